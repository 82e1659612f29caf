using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Csrun.Images.Content;

namespace Csrun.Images.Tests.Fixtures;

/// <summary>The OCI layouts rootfs/mkimages.sh builds, and images made in-test.</summary>
public static class TestImages
{
    public static string Layout(string name)
    {
        string dir = Environment.GetEnvironmentVariable("CSRUN_IMAGES") ?? Path.Combine(Repo(), "out/images");
        string p = Path.Combine(dir, name);
        Assert.True(File.Exists(Path.Combine(p, "index.json")), $"test image {p} not found: run `make images` (or set CSRUN_IMAGES)");
        return p;
    }

    private static string Repo()
    {
        string? d = AppContext.BaseDirectory;
        while (d is not null && !File.Exists(Path.Combine(d, "Runtime.sln"))) d = Path.GetDirectoryName(d);
        return d ?? throw new InvalidOperationException("cannot find the repository root");
    }

    /// <summary>An OCI layout with one gzip layer holding <paramref name="size"/> random (incompressible) bytes.</summary>
    public static string RandomLayout(string parent, int size)
    {
        var data = new byte[size];
        Random.Shared.NextBytes(data);
        using var tar = new MemoryStream();
        using (var w = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "random.bin") { DataStream = new MemoryStream(data), Mode = (UnixFileMode)0x1a4 });
        using var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) z.Write(tar.ToArray());
        byte[] layer = gz.ToArray();
        var diff = Digest.Sha256(tar.ToArray());
        byte[] config = Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Cmd\":[\"true\"]}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{diff}\"]}}}}");
        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = Digest.Sha256(config).ToString(), Size = config.Length },
            Layers = [new Descriptor { MediaType = MediaTypes.OciLayerGzip, Digest = Digest.Sha256(layer).ToString(), Size = layer.Length }],
        };
        byte[] mbytes = JsonSerializer.SerializeToUtf8Bytes(manifest, ImagesJsonContext.Default.ImageManifest);
        string dir = Path.Combine(parent, "random-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(dir, "blobs/sha256"));
        foreach (var b in new[] { layer, config, mbytes })
            File.WriteAllBytes(Path.Combine(dir, "blobs/sha256", Digest.Sha256(b).Hex), b);
        File.WriteAllText(Path.Combine(dir, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        var index = new ImageIndex { Manifests = [new Descriptor { MediaType = MediaTypes.OciManifest, Digest = Digest.Sha256(mbytes).ToString(), Size = mbytes.Length }] };
        File.WriteAllBytes(Path.Combine(dir, "index.json"), JsonSerializer.SerializeToUtf8Bytes(index, ImagesJsonContext.Default.ImageIndex));
        return dir;
    }
}
