using System.Formats.Tar;
using System.Text.Json;
using System.Text.Json.Serialization;
using Csrun.Images.Content;
using Csrun.Images.Registry;

namespace Csrun.Images.Store;

/// <summary>`docker save`'s manifest.json: one entry per image.</summary>
public sealed class DockerArchiveEntry
{
    [JsonPropertyName("Config")] public string Config { get; set; } = "";
    [JsonPropertyName("RepoTags")] public List<string>? RepoTags { get; set; }
    [JsonPropertyName("Layers")] public List<string> Layers { get; set; } = [];
}

internal sealed class OciLayoutMarker
{
    [JsonPropertyName("imageLayoutVersion")] public string ImageLayoutVersion { get; set; } = "1.0.0";
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(List<DockerArchiveEntry>))]
[JsonSerializable(typeof(OciLayoutMarker))]
internal sealed partial class ArchiveJsonContext : JsonSerializerContext;

/// <summary>
/// Offline transfer: import and export of OCI image layout directories and of `docker save` tars (also
/// tars of an OCI layout). Export writes a tar that is both: an OCI layout plus docker's manifest.json,
/// as docker 25 saves, so `docker load`, skopeo and csrun all read it.
/// </summary>
public sealed class ImageArchive(ImageStore store)
{
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    /// <summary>Imports every image in <paramref name="path"/> (a layout directory or a tar); returns the names.
    /// Images without a name in the archive get <paramref name="name"/>, or fail naming what is missing.</summary>
    public IReadOnlyList<string> Import(string path, string? name = null)
    {
        using var lease = GarbageCollector.Lease(store);
        if (Directory.Exists(path)) return ImportDirectory(path, name);
        if (!File.Exists(path)) throw new ImageException($"import {path}: no such file or directory");
        string tmp = Path.Combine(store.Root, "tmp", "import-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(tmp);
        try
        {
            // Extraction refuses entries outside tmp (.NET checks every path); layers stay tars inside.
            using (var s = File.OpenRead(path))
            using (var d = Unpack.LayerCompression.OpenDecompressed(s))
                TarFile.ExtractToDirectory(d, tmp, overwriteFiles: false);
            return ImportDirectory(tmp, name);
        }
        catch (InvalidDataException e) { throw new ImageException($"import {path}: not a tar archive: {e.Message}"); }
        finally { Directory.Delete(tmp, recursive: true); }
    }

    private IReadOnlyList<string> ImportDirectory(string dir, string? name)
    {
        if (File.Exists(Path.Combine(dir, "index.json")) && File.Exists(Path.Combine(dir, "oci-layout")))
            return ImportOciLayout(dir, name);
        if (File.Exists(Path.Combine(dir, "manifest.json")))
            return ImportDockerArchive(dir, name);
        throw new ImageException($"import {dir}: neither an OCI image layout (oci-layout, index.json) nor a docker archive (manifest.json)");
    }

    private List<string> ImportOciLayout(string dir, string? name)
    {
        var index = ReadFile(Path.Combine(dir, "index.json"), ImagesJsonContext.Default.ImageIndex);
        var names = new List<string>();
        foreach (var m in index.Manifests)
        {
            string? refName = m.Annotations?.GetValueOrDefault("io.containerd.image.name")
                ?? m.Annotations?.GetValueOrDefault(RefNameAnnotation);
            string full = NameFor(refName, name, index.Manifests.Count, dir);
            CopyTree(dir, m);
            var target = new Descriptor { MediaType = m.MediaType, Digest = m.Digest, Size = m.Size };
            store.Names.Set(full, target);
            names.Add(full);
        }
        return names;
    }

    /// <summary>A layout's ref name is often only a tag ("latest"): it then applies to the name given.</summary>
    private static string NameFor(string? refName, string? given, int count, string source)
    {
        if (refName is { Length: > 0 } && (refName.Contains('/') || refName.Contains(':') || given is null))
        {
            if (!refName.Contains('/') && !refName.Contains(':') && given is not null) refName = $"{given}:{refName}";
            return ImageReference.Parse(refName).ToString();
        }
        if (given is not null && count == 1) return ImageReference.Parse(given).ToString();
        if (given is not null && refName is { Length: > 0 })
            return ImageReference.Parse($"{ImageReference.Parse(given).Name}:{refName}").ToString();
        throw new ImageException($"import {source}: an image has no name; give one with --name");
    }

    /// <summary>Copies a descriptor and everything it references into the store, verifying every digest.</summary>
    private void CopyTree(string dir, Descriptor d)
    {
        var digest = d.ParsedDigest;
        string file = Path.Combine(dir, "blobs", digest.Algorithm, digest.Hex);
        CopyBlob(file, digest, d.Size, $"import: {d.MediaType}");
        if (MediaTypes.IsIndex(d.MediaType))
            foreach (var m in store.ReadJson(digest, ImagesJsonContext.Default.ImageIndex, "index").Manifests)
            {
                // A layout may hold only some platforms of an index (skopeo copies one by default).
                var md = m.ParsedDigest;
                if (File.Exists(Path.Combine(dir, "blobs", md.Algorithm, md.Hex))) CopyTree(dir, m);
            }
        else if (MediaTypes.IsManifest(d.MediaType))
        {
            var manifest = store.ReadJson(digest, ImagesJsonContext.Default.ImageManifest, "manifest");
            CopyTree(dir, manifest.Config);
            foreach (var l in manifest.Layers) CopyTree(dir, l);
        }
    }

    private void CopyBlob(string file, Digest digest, long size, string what)
    {
        if (store.Content.Exists(digest)) return;
        if (!File.Exists(file)) throw new ImageException($"{what}: blob {digest} is missing from the archive");
        using var w = store.Content.OpenWriter(digest, size, what);
        if (w is null) return;
        w.Restart();
        using var src = File.OpenRead(file);
        var buf = new byte[1 << 16];
        int n;
        while ((n = src.Read(buf)) > 0) w.Write(buf.AsSpan(0, n));
        w.Commit();
    }

    private List<string> ImportDockerArchive(string dir, string? name)
    {
        var entries = ReadFile(Path.Combine(dir, "manifest.json"), ArchiveJsonContext.Default.ListDockerArchiveEntry);
        var names = new List<string>();
        foreach (var e in entries)
        {
            var configPath = Inside(dir, e.Config);
            var configBytes = File.ReadAllBytes(configPath);
            var configDigest = Digest.Sha256(configBytes);
            var config = Json.Parse(configBytes, ImagesJsonContext.Default.ImageConfigFile, $"import: {e.Config}");
            if (config.RootFs.DiffIds.Count != e.Layers.Count)
                throw new ImageException($"import: {e.Config}: {config.RootFs.DiffIds.Count} diff_ids for {e.Layers.Count} layers");
            store.Content.Put(configDigest, configBytes, $"import: {e.Config}");
            var manifest = new ImageManifest
            {
                MediaType = MediaTypes.OciManifest,
                Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = configDigest.ToString(), Size = configBytes.Length },
            };
            for (int i = 0; i < e.Layers.Count; i++)
            {
                string layerPath = Inside(dir, e.Layers[i]);
                Digest digest;
                using (var s = File.OpenRead(layerPath)) digest = Digest.Sha256(s);
                long size = new FileInfo(layerPath).Length;
                CopyBlob(layerPath, digest, size, $"import: {e.Layers[i]}");
                manifest.Layers.Add(new Descriptor { MediaType = SniffLayerType(layerPath), Digest = digest.ToString(), Size = size });
            }
            var body = JsonSerializer.SerializeToUtf8Bytes(manifest, ImagesJsonContext.Default.ImageManifest);
            var md = Digest.Sha256(body);
            store.Content.Put(md, body, "import: manifest");
            var target = new Descriptor { MediaType = MediaTypes.OciManifest, Digest = md.ToString(), Size = body.Length };
            var tags = e.RepoTags is { Count: > 0 } ? e.RepoTags : [NameFor(null, name, entries.Count, dir)];
            foreach (var t in tags)
            {
                string full = ImageReference.Parse(t).ToString();
                store.Names.Set(full, target);
                names.Add(full);
            }
        }
        return names;
    }

    private static string SniffLayerType(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var s = File.OpenRead(path);
        int n = s.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) return MediaTypes.OciLayerGzip;
        if (n == 4 && head.SequenceEqual(new byte[] { 0x28, 0xb5, 0x2f, 0xfd })) return MediaTypes.OciLayerZstd;
        return MediaTypes.OciLayer;
    }

    /// <summary>Exports <paramref name="names"/> to <paramref name="output"/>: a directory becomes an OCI layout,
    /// a file (or "-" for stdout) a tar of the layout plus docker's manifest.json.</summary>
    public void Export(IReadOnlyList<string> names, string output, bool directory, Platform platform)
    {
        var images = names.Select(n => store.Require(n, platform)).ToList();
        if (directory)
        {
            Directory.CreateDirectory(output);
            WriteLayout(images, new DirectorySink(output));
            return;
        }
        using var stream = output == "-" ? Console.OpenStandardOutput() : new FileStream(output + ".tmp", FileMode.Create);
        using (var tar = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: true))
            WriteLayout(images, new TarSink(tar));
        if (output != "-")
        {
            stream.Dispose();
            File.Move(output + ".tmp", output, overwrite: true);
        }
    }

    private void WriteLayout(List<ResolvedImage> images, ILayoutSink sink)
    {
        var written = new HashSet<Digest>();
        var index = new ImageIndex { MediaType = MediaTypes.OciIndex };
        var docker = new List<DockerArchiveEntry>();
        sink.File("oci-layout", JsonSerializer.SerializeToUtf8Bytes(new OciLayoutMarker(), ArchiveJsonContext.Default.OciLayoutMarker));
        foreach (var img in images)
        {
            // One platform's manifest: what the store can vouch for completely.
            var md = img.ManifestDigest;
            Blob(md); Blob(img.ConfigDigest);
            foreach (var l in img.Manifest.Layers) Blob(l.ParsedDigest);
            index.Manifests.Add(new Descriptor
            {
                MediaType = img.Manifest.MediaType ?? MediaTypes.OciManifest, Digest = md.ToString(), Size = store.Content.SizeOf(md),
                Annotations = new() { ["io.containerd.image.name"] = img.Name, [RefNameAnnotation] = img.Name.Split(':')[^1] },
            });
            docker.Add(new DockerArchiveEntry
            {
                Config = $"blobs/sha256/{img.ConfigDigest.Hex}",
                RepoTags = [Familiar(img.Name)],
                Layers = img.Manifest.Layers.Select(l => $"blobs/sha256/{l.ParsedDigest.Hex}").ToList(),
            });
        }
        sink.File("index.json", JsonSerializer.SerializeToUtf8Bytes(index, ImagesJsonContext.Default.ImageIndex));
        sink.File("manifest.json", JsonSerializer.SerializeToUtf8Bytes(docker, ArchiveJsonContext.Default.ListDockerArchiveEntry));

        void Blob(Digest d)
        {
            if (written.Add(d)) sink.Blob($"blobs/{d.Algorithm}/{d.Hex}", store.Content.BlobPath(d));
        }
    }

    /// <summary>docker's short form: docker.io/library/busybox:latest → busybox:latest.</summary>
    private static string Familiar(string name)
    {
        if (name.StartsWith("docker.io/library/", StringComparison.Ordinal)) return name["docker.io/library/".Length..];
        if (name.StartsWith("docker.io/", StringComparison.Ordinal)) return name["docker.io/".Length..];
        return name;
    }

    private static string Inside(string dir, string rel)
    {
        string full = Path.GetFullPath(Path.Combine(dir, rel));
        if (!full.StartsWith(Path.GetFullPath(dir) + "/", StringComparison.Ordinal))
            throw new ImageException($"import: path \"{rel}\" in manifest.json points outside the archive");
        if (!File.Exists(full)) throw new ImageException($"import: {rel} (named in manifest.json) is missing");
        return full;
    }

    private static T ReadFile<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        Json.Parse(File.ReadAllBytes(path), type, path);

    private interface ILayoutSink
    {
        void File(string name, byte[] data);
        void Blob(string name, string sourcePath);
    }

    private sealed class DirectorySink(string root) : ILayoutSink
    {
        public void File(string name, byte[] data) => System.IO.File.WriteAllBytes(Path.Combine(root, name), data);

        public void Blob(string name, string sourcePath)
        {
            string dest = Path.Combine(root, name);
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            System.IO.File.Copy(sourcePath, dest, overwrite: true);
        }
    }

    private sealed class TarSink(TarWriter tar) : ILayoutSink
    {
        private readonly HashSet<string> _dirs = [];

        public void File(string name, byte[] data)
        {
            var e = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data), Mode = (UnixFileMode)0x1a4 };
            tar.WriteEntry(e);
        }

        public void Blob(string name, string sourcePath)
        {
            var parents = new Stack<string>();
            for (string? d = Path.GetDirectoryName(name); !string.IsNullOrEmpty(d) && !_dirs.Contains(d); d = Path.GetDirectoryName(d))
                parents.Push(d);
            foreach (var d in parents)
            {
                _dirs.Add(d);
                tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, d + "/") { Mode = (UnixFileMode)0x1ed });
            }
            tar.WriteEntry(sourcePath, name);
        }
    }
}
