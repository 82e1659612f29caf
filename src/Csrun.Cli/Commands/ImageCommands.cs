using System.CommandLine;
using System.Text;
using System.Text.Json;
using Csrun.Images.Content;
using Csrun.Images.Store;

namespace Csrun.Cli.Commands;

/// <summary>`csrun image pull|list|inspect|remove|import|export|prune` over the image store.</summary>
internal static class ImageCommands
{
    public static Command Build()
    {
        var c = new Command("image", "pull, list, inspect, remove, import, export and prune images");
        c.Options.Add(ImageOptions.ImageRoot);
        c.Subcommands.Add(Pull());
        c.Subcommands.Add(List());
        c.Subcommands.Add(Inspect());
        c.Subcommands.Add(Remove());
        c.Subcommands.Add(Import());
        c.Subcommands.Add(Export());
        c.Subcommands.Add(Prune());
        return c;
    }

    private static Command Pull()
    {
        var reference = new Argument<string>("reference") { Description = "image reference, e.g. busybox, 127.0.0.1:5000/app:v1, name@sha256:..." };
        var c = new Command("pull", "pull an image from its registry (or a configured mirror)") { reference };
        ImageOptions.AddPullOptions(c);
        c.SetAction(p => GlobalOptions.ExecuteImages(p, "image pull", () =>
        {
            var img = ImageOptions.Pull(p, ImageOptions.Store(p), p.GetValue(reference)!);
            Console.Out.WriteLine($"{img.Name} {img.Target.Digest}");
            return 0;
        }));
        return c;
    }

    private static Command List()
    {
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print only the names" };
        var c = new Command("list", "list the images in the store") { quiet };
        c.Aliases.Add("ls");
        c.SetAction(p => GlobalOptions.ExecuteImages(p, "image list", () =>
        {
            var store = ImageOptions.Store(p);
            var rows = new List<string[]> { new[] { "NAME", "IMAGE ID", "SIZE", "PLATFORM", "CREATED" } };
            foreach (var rec in store.Names.List())
            {
                if (p.GetValue(quiet)) { Console.Out.WriteLine(rec.Name); continue; }
                ResolvedImage? img = null;
                try { img = store.Load(rec.Name, rec.Target, Csrun.Images.Registry.PlatformSelector.Default); }
                catch (ImageException) { }
                rows.Add([rec.Name, img?.Id.Hex[..12] ?? "-", img is null ? "-" : HumanSize(img.CompressedSize),
                    img is null ? "-" : $"{img.Config.Os}/{img.Config.Architecture}", rec.Created.ToString("yyyy-MM-dd HH:mm:ss")]);
            }
            if (!p.GetValue(quiet)) PrintTable(rows);
            return 0;
        }));
        return c;
    }

    private static Command Inspect()
    {
        var names = new Argument<string[]>("image") { Arity = ArgumentArity.OneOrMore };
        var c = new Command("inspect", "print an image's name, digests, manifest and config as JSON") { names };
        c.Options.Add(ImageOptions.PlatformOpt);
        c.SetAction(p => GlobalOptions.ExecuteImages(p, "image inspect", () =>
        {
            var store = ImageOptions.Store(p);
            using var buf = new MemoryStream();
            using (var w = new Utf8JsonWriter(buf, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartArray();
                foreach (var n in p.GetValue(names)!)
                {
                    var img = store.Require(n, ImageOptions.Platform(p));
                    w.WriteStartObject();
                    w.WriteString("name", img.Name);
                    w.WriteString("id", img.Id.ToString());
                    w.WriteString("digest", img.Target.Digest);
                    w.WriteString("mediaType", img.Target.MediaType);
                    w.WriteString("manifestDigest", img.ManifestDigest.ToString());
                    w.WriteNumber("size", img.CompressedSize);
                    w.WriteStartArray("chainIds");
                    foreach (var ch in img.ChainIds) w.WriteStringValue(ch.ToString());
                    w.WriteEndArray();
                    w.WritePropertyName("manifest");
                    w.WriteRawValue(store.Content.ReadAll(img.ManifestDigest));
                    w.WritePropertyName("config");
                    w.WriteRawValue(store.Content.ReadAll(img.ConfigDigest));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            Console.Out.WriteLine(Encoding.UTF8.GetString(buf.ToArray()));
            return 0;
        }));
        return c;
    }

    private static Command Remove()
    {
        var names = new Argument<string[]>("image") { Arity = ArgumentArity.OneOrMore };
        var c = new Command("remove", "remove image names, then the content no image or container needs") { names };
        c.Aliases.Add("rm");
        c.SetAction(p => GlobalOptions.ExecuteImages(p, "image remove", () =>
        {
            var store = ImageOptions.Store(p);
            foreach (var n in p.GetValue(names)!)
            {
                var img = store.Find(n, Csrun.Images.Registry.PlatformSelector.Default);
                string name = img?.Name ?? n;
                if (!store.Names.Remove(name)) throw new ImageNotFoundException(n);
                Console.Out.WriteLine($"removed {name}");
            }
            GarbageCollector.Prune(store);
            return 0;
        }));
        return c;
    }

    private static Command Import()
    {
        var path = new Argument<string>("archive") { Description = "an OCI image layout directory, or a tar (docker save, OCI layout; gzip/zstd ok)" };
        var name = new Option<string?>("--name") { Description = "name for images the archive does not name" };
        var c = new Command("import", "import images from an OCI layout or a docker save archive") { path, name };
        c.SetAction(p => GlobalOptions.ExecuteImages(p, "image import", () =>
        {
            foreach (var n in new ImageArchive(ImageOptions.Store(p)).Import(p.GetValue(path)!, p.GetValue(name)))
                Console.Out.WriteLine(n);
            return 0;
        }));
        return c;
    }

    private static Command Export()
    {
        var names = new Argument<string[]>("image") { Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "file (tar: OCI layout + docker manifest.json; - for stdout) or directory with --dir", Required = true };
        var dir = new Option<bool>("--dir") { Description = "write an OCI image layout directory instead of a tar" };
        var c = new Command("export", "export images to an OCI layout or a docker-loadable tar") { names, output, dir };
        c.Options.Add(ImageOptions.PlatformOpt);
        c.SetAction(p => GlobalOptions.ExecuteImages(p, "image export", () =>
        {
            new ImageArchive(ImageOptions.Store(p)).Export(p.GetValue(names)!, p.GetValue(output)!, p.GetValue(dir), ImageOptions.Platform(p));
            return 0;
        }));
        return c;
    }

    private static Command Prune()
    {
        var c = new Command("prune", "remove blobs, unpacked layers and partial downloads no image or container references");
        c.SetAction(p => GlobalOptions.ExecuteImages(p, "image prune", () =>
        {
            var r = GarbageCollector.Prune(ImageOptions.Store(p));
            Console.Out.WriteLine($"removed {r.Blobs} blobs ({HumanSize(r.BlobBytes)}), {r.Layers} unpacked layers, {r.Ingests} partial downloads");
            return 0;
        }));
        return c;
    }

    internal static string HumanSize(long b) => b switch
    {
        >= 1 << 30 => $"{b / (double)(1 << 30):F1}GB",
        >= 1 << 20 => $"{b / (double)(1 << 20):F1}MB",
        >= 1 << 10 => $"{b / 1024.0:F1}kB",
        _ => $"{b}B",
    };

    internal static void PrintTable(List<string[]> rows)
    {
        int cols = rows[0].Length;
        var w = new int[cols];
        foreach (var r in rows) for (int i = 0; i < cols; i++) w[i] = Math.Max(w[i], r[i].Length);
        foreach (var r in rows)
            Console.Out.WriteLine(string.Join("   ", r.Select((v, i) => i == cols - 1 ? v : v.PadRight(w[i]))));
    }
}
