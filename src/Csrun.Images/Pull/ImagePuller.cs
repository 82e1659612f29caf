using System.Collections.Concurrent;
using Csrun.Images.Content;
using Csrun.Images.Registry;
using Csrun.Images.Store;

namespace Csrun.Images.Pull;

public sealed record PullOptions
{
    public Platform Platform { get; init; } = PlatformSelector.Default;
    /// <summary>Layers downloaded at once (docker's default is 3).</summary>
    public int MaxConcurrentDownloads { get; init; } = 3;
    /// <summary>Unpack layers into snapshots as they arrive, so a run can start at once.</summary>
    public bool Unpack { get; init; } = true;
    public bool Rootless { get; init; }
    public IPullProgress? Progress { get; init; }
}

/// <summary>Per-layer progress: downloading (bytes so far of total), then unpacking, then done.</summary>
public interface IPullProgress
{
    void Report(Descriptor blob, PullPhase phase, long current, long total);
}

public enum PullPhase { Waiting, Downloading, Downloaded, Exists, Unpacking, Done }

/// <summary>
/// docker pull: resolve a reference to a manifest for one platform, fetch config and layers (in parallel,
/// bounded), unpack the layers into snapshots and only then name the image, so a failed or interrupted pull
/// never shows up as an image. Two pulls (in this process or another) wanting one blob download it once.
/// </summary>
public sealed class ImagePuller(ImageStore store, RegistryClient client)
{
    // One download per blob in this process; ContentStore's ingest lock covers other processes.
    private static readonly ConcurrentDictionary<string, Lazy<Task>> InFlight = new();

    public async Task<ResolvedImage> PullAsync(ImageReference reference, PullOptions? options = null, CancellationToken ct = default)
    {
        options ??= new PullOptions();
        using var lease = GarbageCollector.Lease(store);

        var top = await client.GetManifestAsync(reference, reference.ManifestReference, ct).ConfigureAwait(false);
        store.Content.Put(top.Digest, top.Body, $"{reference}: manifest");
        var target = new Descriptor { MediaType = top.MediaType, Digest = top.Digest.ToString(), Size = top.Body.Length };

        ImageManifest manifest;
        if (MediaTypes.IsIndex(top.MediaType))
        {
            var index = Parse(top.Body, ImagesJsonContext.Default.ImageIndex, reference, "index");
            var chosen = PlatformSelector.Select(index, options.Platform)
                ?? throw new ImageException($"{reference}: no manifest for platform {options.Platform} (available: " +
                    string.Join(", ", index.Manifests.Select(m => m.Platform?.ToString() ?? "?")) + ")");
            var child = await client.GetManifestAsync(reference, chosen.Digest, ct).ConfigureAwait(false);
            if (child.Digest != chosen.ParsedDigest)
                throw new DigestMismatchException($"{reference}: manifest for {options.Platform}", chosen.ParsedDigest, child.Digest);
            store.Content.Put(child.Digest, child.Body, $"{reference}: manifest");
            manifest = Parse(child.Body, ImagesJsonContext.Default.ImageManifest, reference, "manifest");
        }
        else if (MediaTypes.IsManifest(top.MediaType))
            manifest = Parse(top.Body, ImagesJsonContext.Default.ImageManifest, reference, "manifest");
        else
            throw new ImageException($"{reference}: unsupported manifest media type \"{top.MediaType}\"");

        if (!MediaTypes.IsConfig(manifest.Config.MediaType))
            throw new ImageException($"{reference}: config media type \"{manifest.Config.MediaType}\" is not an image config");
        foreach (var l in manifest.Layers)
            if (!MediaTypes.IsLayer(l.MediaType))
                throw new ImageException($"{reference}: layer {l.Digest}: unsupported media type \"{l.MediaType}\"");

        await FetchAsync(reference, manifest.Config, null, ct).ConfigureAwait(false);
        var image = store.Load(reference.ToString(), target, options.Platform);

        using var slots = new SemaphoreSlim(Math.Max(1, options.MaxConcurrentDownloads));
        var work = manifest.Layers.Select(async (layer, i) =>
        {
            if (options.Unpack && store.Snapshots.HasLayer(image.ChainIds[i]))
            {
                options.Progress?.Report(layer, PullPhase.Exists, layer.Size, layer.Size);
                return;
            }
            options.Progress?.Report(layer, PullPhase.Waiting, 0, layer.Size);
            await slots.WaitAsync(ct).ConfigureAwait(false);
            try { await FetchAsync(reference, layer, options.Progress, ct).ConfigureAwait(false); }
            finally { slots.Release(); }
            if (!options.Unpack) return;
            options.Progress?.Report(layer, PullPhase.Unpacking, layer.Size, layer.Size);
            // Unpacking is CPU and disk work: off the download slots, on the thread pool.
            await Task.Run(() => store.UnpackLayer(image, i, options.Rootless), ct).ConfigureAwait(false);
            options.Progress?.Report(layer, PullPhase.Done, layer.Size, layer.Size);
        }).ToList();
        await Task.WhenAll(work).ConfigureAwait(false);

        store.Names.Set(reference.ToString(), target);
        return image;
    }

    private Task FetchAsync(ImageReference reference, Descriptor blob, IPullProgress? progress, CancellationToken ct)
    {
        var digest = blob.ParsedDigest;
        if (store.Content.Exists(digest))
        {
            progress?.Report(blob, PullPhase.Exists, blob.Size, blob.Size);
            return Task.CompletedTask;
        }
        string key = store.Root + "\0" + digest;
        var lazy = InFlight.GetOrAdd(key, _ => new Lazy<Task>(() => Task.Run(async () =>
        {
            try
            {
                // Blocks while another process holds the ingest; null when it finished the blob meanwhile.
                using var writer = store.Content.OpenWriter(digest, blob.Size, $"{reference}: blob");
                if (writer is null) return;
                var bytes = progress is null ? null : new InlineProgress(n => progress.Report(blob, PullPhase.Downloading, n, blob.Size));
                await client.FetchBlobAsync(reference, blob, writer, bytes, ct).ConfigureAwait(false);
                progress?.Report(blob, PullPhase.Downloaded, blob.Size, blob.Size);
            }
            finally { InFlight.TryRemove(key, out Lazy<Task>? _); }
        }, ct)));
        return lazy.Value;
    }

    private static T Parse<T>(byte[] body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, ImageReference r, string what) =>
        Json.Parse(body, type, $"{r}: {what}");

    /// <summary>Reports on the downloading thread, in order: Progress&lt;T&gt; would post to the thread pool, and a
    /// late "downloading" could land after "done".</summary>
    private sealed class InlineProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
