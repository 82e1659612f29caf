// Image work against the tools people use for it, whole runs timed with a stopwatch (each takes seconds, so
// BenchmarkDotNet's per-invocation machinery adds nothing), the median of N runs, peak RSS from GNU time:
//
//   unpack  one large tar+gzip layer (a Debian bookworm minbase rootfs, rootfs/mkdebian.sh) into an empty
//           directory: csrun's LayerUnpacker (in this process, so no RSS), `tar -xzf`, `umoci raw unpack`.
//   pull    a three-layer image of the same files from Debian's docker-registry on 127.0.0.1 into an empty
//           store: `csrun image pull` (download, verify, unpack into snapshots), `skopeo copy` to an OCI layout
//           (download and verify only), and `skopeo copy` + `umoci unpack` (the same end state as csrun's).
//
//   dotnet run -c Release --project benchmarks/Csrun.Benchmarks -- images --csrun out/bin/csrun \
//       --debian out/debian --out out/bench [--runs 5]
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Csrun.Images.Content;
using Csrun.Images.Unpack;

namespace Csrun.Benchmarks;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]

public static class ImageBenchmarks
{
    private sealed record Row(string Tool, string What, List<double> Seconds, long PeakRssKiB)
    {
        public double Median => Seconds.Order().ElementAt(Seconds.Count / 2);
    }

    public static int Run(string[] args)
    {
        string? csrun = null, debian = null, outDir = "out/bench";
        int runs = 5;
        for (int i = 0; i < args.Length; i++)
        {
            string V() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--csrun": csrun = Path.GetFullPath(V()); break;
                case "--debian": debian = Path.GetFullPath(V()); break;
                case "--out": outDir = V(); break;
                case "--runs": runs = int.Parse(V(), CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"csrun-bench images: unknown argument {args[i]}"); return 2;
            }
        }
        if (csrun is null || debian is null || !File.Exists(csrun) || !File.Exists(Path.Combine(debian, "debian-multi/index.json")))
        {
            Console.Error.WriteLine("csrun-bench images: need --csrun BINARY and --debian DIR (rootfs/mkdebian.sh DIR builds it)");
            return 2;
        }
        foreach (var tool in new[] { "tar", "umoci", "skopeo", "/usr/bin/time", "/usr/bin/docker-registry" })
            if (Which(tool) is null) { Console.Error.WriteLine($"csrun-bench images: {tool} not found (make deps installs it)"); return 1; }

        string work = Path.Combine("/var/tmp", "csrun-imgbench-" + Environment.ProcessId);
        Directory.CreateDirectory(work);
        var rows = new List<Row>();
        Process? registry = null;
        try
        {
            string single = Path.Combine(debian, "debian-single");
            string layer = LayerBlob(single);
            long unpacked = long.Parse(File.ReadAllText(Path.Combine(debian, "rootfs-bytes")).Trim(), CultureInfo.InvariantCulture);
            long layerBytes = new FileInfo(layer).Length;
            Console.WriteLine($"unpack: {layerBytes / 1048576.0:F1} MiB gzip layer, {unpacked / 1048576.0:F1} MiB unpacked, {runs} runs each");

            var libs = CompareLibraries(layer, runs);
            rows.Add(Measure("csrun (LayerUnpacker)", "unpack", runs, work, dir =>
            {
                using var s = File.OpenRead(layer);
                LayerUnpacker.Unpack(s, dir);
                return 0;
            }));
            rows.Add(MeasureProcess("tar -xzf", "unpack", runs, work, dir => ["tar", "-xzf", layer, "-C", dir]));
            rows.Add(MeasureProcess("umoci raw unpack", "unpack", runs, work, dir => ["umoci", "raw", "unpack", "--image", $"{single}:latest", dir], emptyTarget: false));

            int port = FreePort();
            registry = StartRegistry(work, port);
            string reference = $"127.0.0.1:{port}/bench/debian:multi";
            Exec("skopeo", "copy", "--quiet", "--dest-tls-verify=false", $"oci:{Path.Combine(debian, "debian-multi")}:latest", $"docker://{reference}");
            Console.WriteLine($"pull: {reference}, three gzip layers, {runs} runs each");
            rows.Add(MeasureProcess("csrun image pull", "pull + unpack", runs, work, dir => [csrun, "image", "--image-root", dir, "pull", reference]));
            rows.Add(MeasureProcess("skopeo copy", "pull", runs, work, dir => ["skopeo", "copy", "--quiet", "--src-tls-verify=false", $"docker://{reference}", $"oci:{dir}/layout:latest"]));
            rows.Add(MeasureProcess("skopeo copy + umoci unpack", "pull + unpack", runs, work, dir =>
                ["sh", "-c", $"skopeo copy --quiet --src-tls-verify=false docker://{reference} oci:{dir}/layout:latest && umoci unpack --image {dir}/layout:latest {dir}/bundle >/dev/null"]));

            var md = new StringBuilder();
            md.AppendLine($"Unpacked size {unpacked / 1048576.0:F1} MiB; gzip layer {layerBytes / 1048576.0:F1} MiB; median of {runs} runs.");
            md.AppendLine();
            md.AppendLine("| tool | work | median s | min s | MiB/s (unpacked) | peak RSS MiB |");
            md.AppendLine("|---|---|---:|---:|---:|---:|");
            foreach (var r in rows)
                md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {r.Tool} | {r.What} | {r.Median:F2} | {r.Seconds.Min():F2} | {unpacked / 1048576.0 / r.Median:F0} | {(r.PeakRssKiB > 0 ? (r.PeakRssKiB / 1024.0).ToString("F1", CultureInfo.InvariantCulture) : "in-process")} |"));
            md.AppendLine();
            md.AppendLine("Libraries on the same layer, in memory (decode = gunzip to nothing; parse = read every tar header and all data):");
            md.AppendLine();
            md.AppendLine("| library | work | median s | MiB/s (tar) |");
            md.AppendLine("|---|---|---:|---:|");
            foreach (var (name, what, secs, mib) in libs)
                md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {what} | {secs:F3} | {mib:F0} |"));
            Directory.CreateDirectory(outDir);
            File.WriteAllText(Path.Combine(outDir, "images.md"), md.ToString());
            Console.WriteLine();
            Console.WriteLine(md);
            return 0;
        }
        finally
        {
            if (registry is { HasExited: false }) { registry.Kill(); registry.WaitForExit(); }
            RemoveTree(work);
        }
    }

    /// <summary>gzip: System.IO.Compression (zlib-ng) against SharpZipLib; tar: csrun's reader against
    /// System.Formats.Tar and SharpZipLib's TarInputStream.</summary>
    private static List<(string, string, double, double)> CompareLibraries(string layer, int runs)
    {
        byte[] gz = File.ReadAllBytes(layer);
        byte[] tar;
        using (var ms = new MemoryStream())
        {
            using (var z = new System.IO.Compression.GZipStream(new MemoryStream(gz), System.IO.Compression.CompressionMode.Decompress)) z.CopyTo(ms);
            tar = ms.ToArray();
        }
        double mib = tar.Length / 1048576.0;
        var results = new List<(string, string, double, double)>();
        void Time(string name, string what, Action a)
        {
            var t = new List<double>();
            for (int i = 0; i < runs; i++) { var sw = Stopwatch.StartNew(); a(); t.Add(sw.Elapsed.TotalSeconds); }
            double median = t.Order().ElementAt(t.Count / 2);
            results.Add((name, what, median, mib / median));
            Console.WriteLine($"  {name} ({what}): {median:F3} s");
        }
        var sink = new byte[1 << 20];
        Time("System.IO.Compression.GZipStream", "decode", () =>
        {
            using var z = new System.IO.Compression.GZipStream(new MemoryStream(gz), System.IO.Compression.CompressionMode.Decompress);
            while (z.Read(sink) > 0) { }
        });
        Time("SharpZipLib GZipInputStream", "decode", () =>
        {
            using var z = new ICSharpCode.SharpZipLib.GZip.GZipInputStream(new MemoryStream(gz));
            while (z.Read(sink, 0, sink.Length) > 0) { }
        });
        Time("csrun TarStream", "parse", () =>
        {
            var r = new TarStream(new MemoryStream(tar));
            var h = new TarHeader();
            while (r.Next(h)) while (r.Read(sink) > 0) { }
        });
        Time("System.Formats.Tar TarReader", "parse", () =>
        {
            using var r = new System.Formats.Tar.TarReader(new MemoryStream(tar));
            while (r.GetNextEntry() is { } e) if (e.DataStream is { } d) while (d.Read(sink) > 0) { }
        });
        Time("SharpZipLib TarInputStream", "parse", () =>
        {
            using var r = new ICSharpCode.SharpZipLib.Tar.TarInputStream(new MemoryStream(tar), System.Text.Encoding.UTF8);
            while (r.GetNextEntry() is not null) while (r.Read(sink, 0, sink.Length) > 0) { }
        });
        return results;
    }

    private static Row Measure(string tool, string what, int runs, string work, Func<string, int> action)
    {
        var times = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            string dir = Path.Combine(work, "t");
            RemoveTree(dir);
            Directory.CreateDirectory(dir);
            Sync();
            var sw = Stopwatch.StartNew();
            action(dir);
            times.Add(sw.Elapsed.TotalSeconds);
            RemoveTree(dir);
        }
        Console.WriteLine($"  {tool}: {string.Join(", ", times.Select(t => t.ToString("F2", CultureInfo.InvariantCulture)))} s");
        return new Row(tool, what, times, 0);
    }

    private static Row MeasureProcess(string tool, string what, int runs, string work, Func<string, string[]> command, bool emptyTarget = true)
    {
        var times = new List<double>();
        long rss = 0;
        for (int i = 0; i < runs; i++)
        {
            string dir = Path.Combine(work, "t");
            RemoveTree(dir);
            if (emptyTarget) Directory.CreateDirectory(dir);
            Sync();
            string rssFile = Path.Combine(work, "rss");
            var sw = Stopwatch.StartNew();
            Exec(["/usr/bin/time", "-f", "%M", "-o", rssFile, .. command(dir)]);
            times.Add(sw.Elapsed.TotalSeconds);
            rss = Math.Max(rss, long.Parse(File.ReadAllText(rssFile).Trim().Split('\n')[^1], CultureInfo.InvariantCulture));
            RemoveTree(dir);
        }
        Console.WriteLine($"  {tool}: {string.Join(", ", times.Select(t => t.ToString("F2", CultureInfo.InvariantCulture)))} s");
        return new Row(tool, what, times, rss);
    }

    private static string LayerBlob(string layout)
    {
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout, "index.json")));
        var m = Digest.Parse(index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout, "blobs/sha256", m.Hex)));
        var l = Digest.Parse(manifest.RootElement.GetProperty("layers")[0].GetProperty("digest").GetString()!);
        return Path.Combine(layout, "blobs/sha256", l.Hex);
    }

    private static Process StartRegistry(string work, int port)
    {
        string cfg = Path.Combine(work, "registry.yml");
        File.WriteAllText(cfg, $"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {work}/registry\nhttp:\n  addr: 127.0.0.1:{port}\n");
        var p = Process.Start(new ProcessStartInfo("/usr/bin/docker-registry") { ArgumentList = { "serve", cfg }, RedirectStandardError = true, RedirectStandardOutput = true })!;
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        using var http = new HttpClient();
        for (int i = 0; i < 100; i++)
        {
            try { if (http.GetAsync($"http://127.0.0.1:{port}/v2/").Result.StatusCode == HttpStatusCode.OK) return p; }
            catch (AggregateException) { }
            Thread.Sleep(50);
        }
        throw new InvalidOperationException("docker-registry did not start");
    }

    private static void Exec(params string[] argv)
    {
        var psi = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in argv[1..]) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', argv)}: exit {p.ExitCode}: {err.Result}");
    }

    private static void Sync() => Exec("sync");

    private static void RemoveTree(string dir)
    {
        if (Directory.Exists(dir)) Exec("rm", "-rf", "--one-file-system", dir);
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static string? Which(string tool) => tool.StartsWith('/') ? (File.Exists(tool) ? tool
        : null) : Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
}
