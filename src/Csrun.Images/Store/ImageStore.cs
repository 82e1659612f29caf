using Csrun.Images.Content;
using Csrun.Images.Snapshots;

namespace Csrun.Images.Store;

/// <summary>An image as the store holds it: the chosen platform's manifest, its config, and its layer stack.</summary>
public sealed record ResolvedImage(
    string Name, Descriptor Target, Digest ManifestDigest, ImageManifest Manifest,
    Digest ConfigDigest, ImageConfigFile Config, IReadOnlyList<Digest> DiffIds, IReadOnlyList<Digest> ChainIds)
{
    /// <summary>Docker's image ID: the config's digest.</summary>
    public Digest Id => ConfigDigest;
    public long CompressedSize => Manifest.Layers.Sum(l => l.Size) + Manifest.Config.Size;
}

/// <summary>
/// The image store under one root (default /var/lib/csrun): blobs (content store), names (images.json),
/// snapshots (unpacked layers and container rootfs overlays) and the bundles of containers run from images.
/// csrun and csrund share it.
/// </summary>
public sealed class ImageStore
{
    public const string DefaultRootPath = "/var/lib/csrun";

    public static string DefaultRoot =>
        Environment.GetEnvironmentVariable("CSRUN_IMAGE_ROOT") is { Length: > 0 } r ? r : DefaultRootPath;

    public string Root { get; }
    public ContentStore Content { get; }
    public ImageNames Names { get; }
    public Snapshotter Snapshots { get; }

    public ImageStore(string root)
    {
        Root = Path.GetFullPath(root);
        Content = new ContentStore(Root);
        Names = new ImageNames(Root);
        Snapshots = new Snapshotter(Path.Combine(Root, "snapshots"));
    }

    /// <summary>
    /// Finds an image by name ("busybox", "docker.io/library/busybox:latest"), by full reference with digest,
    /// or by image ID (config digest, or a unique prefix of at least 4 hex digits as docker accepts).
    /// </summary>
    public ResolvedImage? Find(string nameOrId, Platform platform)
    {
        foreach (var candidate in NameCandidates(nameOrId))
            if (Names.Find(candidate) is { } rec) return Load(rec.Name, rec.Target, platform);
        // repo@digest names any image of that repository pulled as that manifest (a "repo digest"), tag or not.
        if (ParseOrNull(nameOrId) is { Digest: { } digest } wanted)
        {
            foreach (var rec in Names.List())
                if (rec.Target.Digest.ToString() == digest.ToString() && ParseOrNull(rec.Name)?.Name == wanted.Name)
                    return Load(rec.Name, rec.Target, platform);
        }
        string hex = nameOrId.StartsWith("sha256:", StringComparison.Ordinal) ? nameOrId[7..] : nameOrId;
        if (hex.Length >= 4 && hex.All(char.IsAsciiHexDigitLower))
        {
            var matches = Names.List()
                .Select(r => TryLoad(r, platform))
                .Where(i => i is not null && i.Id.Hex.StartsWith(hex, StringComparison.Ordinal))
                .ToList();
            if (matches.Select(m => m!.Id).Distinct().Count() > 1)
                throw new ImageException($"image ID prefix \"{nameOrId}\" is ambiguous");
            if (matches.Count > 0) return matches[0];
        }
        return null;
    }

    public ResolvedImage Require(string nameOrId, Platform platform) =>
        Find(nameOrId, platform) ?? throw new ImageNotFoundException(nameOrId);

    private ResolvedImage? TryLoad(ImageRecord r, Platform p)
    {
        try { return Load(r.Name, r.Target, p); }
        catch (ImageException) { return null; }
    }

    /// <summary>Normalized spellings of a user's image name (the registry parser owns the rules).</summary>
    private static IEnumerable<string> NameCandidates(string s)
    {
        yield return s;
        if (ParseOrNull(s) is { } r) yield return r.ToString();
    }

    private static Registry.ImageReference? ParseOrNull(string s)
    {
        try { return Registry.ImageReference.Parse(s); }
        catch (ImageException) { return null; }
    }

    /// <summary>Reads a target (index or manifest) down to the platform's config and layers.</summary>
    public ResolvedImage Load(string name, Descriptor target, Platform platform)
    {
        var digest = target.ParsedDigest;
        string mediaType = target.MediaType;
        if (MediaTypes.IsIndex(mediaType))
        {
            var index = ReadJson(digest, ImagesJsonContext.Default.ImageIndex, "index");
            var chosen = Registry.PlatformSelector.Select(index, platform)
                ?? throw new ImageException($"{name}: no manifest for platform {platform} (the index has: " +
                    string.Join(", ", index.Manifests.Select(m => m.Platform?.ToString() ?? "?")) + ")");
            digest = chosen.ParsedDigest;
            mediaType = chosen.MediaType;
        }
        if (!MediaTypes.IsManifest(mediaType))
            throw new ImageException($"{name}: unsupported manifest media type \"{mediaType}\"");
        var manifest = ReadJson(digest, ImagesJsonContext.Default.ImageManifest, "manifest");
        var configDigest = manifest.Config.ParsedDigest;
        var config = ReadJson(configDigest, ImagesJsonContext.Default.ImageConfigFile, "image config");
        var diffIds = config.RootFs.DiffIds.Select(d => Digest.Parse(d, $"{name}: rootfs.diff_ids")).ToList();
        if (diffIds.Count != manifest.Layers.Count)
            throw new ImageException($"{name}: config lists {diffIds.Count} diff_ids for {manifest.Layers.Count} layers");
        return new ResolvedImage(name, target, digest, manifest, configDigest, config, diffIds, Snapshotter.ChainIds(diffIds));
    }

    public T ReadJson<T>(Digest d, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string what) =>
        Json.Parse(Content.ReadAll(d), type, $"{what} {d}");

    /// <summary>Unpacks every layer of <paramref name="image"/> that is not unpacked yet, verifying each diffID.</summary>
    public void Unpack(ResolvedImage image, bool rootless = false)
    {
        for (int i = 0; i < image.ChainIds.Count; i++) UnpackLayer(image, i, rootless);
    }

    public void UnpackLayer(ResolvedImage image, int i, bool rootless)
    {
        var layer = image.Manifest.Layers[i];
        var expected = image.DiffIds[i];
        Snapshots.EnsureLayer(image.ChainIds[i], dir =>
        {
            using var blob = Content.OpenRead(layer.ParsedDigest);
            var result = Csrun.Images.Unpack.LayerUnpacker.Unpack(blob, dir, new Csrun.Images.Unpack.UnpackOptions { Rootless = rootless });
            if (result.DiffId != expected)
                throw new DigestMismatchException($"{image.Name}: layer {i} ({layer.Digest}) uncompressed", expected, result.DiffId);
        });
    }
}

public sealed class ImageNotFoundException(string name) : ImageException($"image \"{name}\": not found in the local store");
