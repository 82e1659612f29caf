// Start-up cost of csrun against crun and runc: whole-process `RUNTIME --root STATE run --bundle
// BUNDLE ID` of /bin/true in a busybox bundle, timed by BenchmarkDotNet, with each runtime's
// peak RSS from wait4().
//
//   dotnet run -c Release --project benchmarks/Csrun.Benchmarks -- \
//       --csrun out/bin/csrun --rootfs out/rootfs/busybox --out out/bench
//
// Options: --csrun PATH (skipped, with a note, when it does not exist), --rootfs DIR (required),
// --out DIR (default out/bench), --crun PATH, --runc PATH (default: found on PATH), --floor PATH and
// --floor-aot PATH (reference rows, benchmarks/floor: the kernel work alone, and behind a .NET start),
// --warmup N (5), --iterations N (200), --rss-runs N (10, see PeakRss.cs), --rounds N (100: the interleaved
// measurement after BenchmarkDotNet's, see Interleaved.cs), --phase-runs N (100: csrun's traced runs, see
// Phases.cs), --mkbundle PATH (default: rootfs/mkbundle.sh found
// upwards from the current directory or from this program).
//
// Hybrid cgroup hosts (cgroup v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified):
// crun 1.8 refuses them. The fix is to unmount /sys/fs/cgroup/unified, but only in a mount
// namespace of our own. unshare(CLONE_NEWNS) fails with EINVAL in a multithreaded process, and
// a .NET process always is, so the program re-executes itself under
// `unshare --mount --propagation slave` with CSRUN_BENCH_IN_MOUNT_NS=1 and the child unmounts it
// with umount2() before BenchmarkDotNet starts; BenchmarkDotNet's benchmark processes, and the
// runtimes they start, inherit that namespace. Every runtime runs in the same namespace.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Perfolizer.Horology;
using Perfolizer.Mathematics.OutlierDetection;

namespace Csrun.Benchmarks;

public static class Program
{
    private const string InNamespaceVar = "CSRUN_BENCH_IN_MOUNT_NS";
    private const string UnifiedMount = "/sys/fs/cgroup/unified";

    private sealed class Options
    {
        public string? Csrun, Rootfs, Crun, Runc, Floor, FloorAot, Mkbundle;
        public string Out = Path.Combine("out", "bench");
        // 200 measured runs: a stretch of 30 (under a second for csrun) took a burst of the host's load whole,
        // and its median with it (csrun 5.7-5.9 ms against 4.8-4.9 in the same runs' interleaved rounds).
        public int Warmup = 5, Iterations = 200, RssRuns = 10, Rounds = 100, PhaseRuns = 100;
    }

    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "images") return OperatingSystem.IsLinux() ? ImageBenchmarks.Run(args[1..]) : 2;
        if (args.Length > 0 && args[0] == "cri") return CriBenchmark.Run(args[1..]);
        Options o;
        try { o = Parse(args); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"csrun-bench: {e.Message}");
            Console.Error.WriteLine("usage: Csrun.Benchmarks --rootfs DIR [--csrun PATH] [--out DIR] [--crun PATH] [--runc PATH] [--floor PATH] [--floor-aot PATH] [--warmup N] [--iterations N] [--rss-runs N] [--rounds N] [--phase-runs N] [--mkbundle PATH]");
            return 2;
        }
        if (Native.geteuid() != 0)
        {
            Console.Error.WriteLine("csrun-bench: must run as root (the runtimes create namespaces and cgroups)");
            return 1;
        }

        if (Environment.GetEnvironmentVariable(InNamespaceVar) != "1" && IsCgroup2Mount(UnifiedMount))
            return ReexecInMountNamespace(args);
        if (Environment.GetEnvironmentVariable(InNamespaceVar) == "1")
        {
            int rc = LeaveHybridCgroups();
            if (rc != 0) return rc;
        }
        return Run(o);
    }

    private static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int() => int.TryParse(Value(), out int n) && n > 0 ? n : throw new ArgumentException($"{args[i - 1]} needs a positive integer");
            switch (args[i])
            {
                case "--csrun": o.Csrun = Value(); break;
                case "--rootfs": o.Rootfs = Value(); break;
                case "--out": o.Out = Value(); break;
                case "--crun": o.Crun = Value(); break;
                case "--floor": o.Floor = Value(); break;
                case "--floor-aot": o.FloorAot = Value(); break;
                case "--runc": o.Runc = Value(); break;
                case "--mkbundle": o.Mkbundle = Value(); break;
                case "--warmup": o.Warmup = Int(); break;
                case "--iterations": o.Iterations = Int(); break;
                case "--rss-runs": o.RssRuns = Int(); break;
                case "--rounds": o.Rounds = Int(); break;
                case "--phase-runs": o.PhaseRuns = Int(); break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        if (o.Rootfs is null) throw new ArgumentException("--rootfs is required");
        return o;
    }

    // ---- mount namespace -------------------------------------------------------------------

    private static bool IsCgroup2Mount(string mountPoint)
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (f.Length > 4 && dash > 0 && dash + 1 < f.Length && f[4] == mountPoint && f[dash + 1] == "cgroup2") return true;
        }
        return false;
    }

    private static int ReexecInMountNamespace(string[] args)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var psi = new ProcessStartInfo("unshare") { UseShellExecute = false };
        foreach (var a in new[] { "--mount", "--propagation", "slave", "--", self }) psi.ArgumentList.Add(a);
        // Started as `dotnet Csrun.Benchmarks.dll`: pass the assembly too.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment[InNamespaceVar] = "1";
        Console.WriteLine($"csrun-bench: hybrid cgroup host: re-running in a private mount namespace without {UnifiedMount} (crun refuses hybrid cgroups)");
        // Ctrl-C reaches the child too (same process group); wait for it to clean up.
        Console.CancelKeyPress += (_, e) => e.Cancel = true;
        using var child = Process.Start(psi)!;
        child.WaitForExit();
        return child.ExitCode;
    }

    private static int LeaveHybridCgroups()
    {
        // Never unmount anything in a namespace we share with the rest of the machine.
        string self = ReadLink("/proc/self/ns/mnt"), init = ReadLink("/proc/1/ns/mnt");
        if (self == init)
        {
            Console.Error.WriteLine($"csrun-bench: {InNamespaceVar}=1 but this process shares PID 1's mount namespace; refusing to unmount {UnifiedMount}");
            return 1;
        }
        if (IsCgroup2Mount(UnifiedMount) && Native.umount2(UnifiedMount, Native.MNT_DETACH) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            Console.Error.WriteLine($"csrun-bench: umount {UnifiedMount}: {Native.StrError(errno)}");
            return 1;
        }
        return 0;
    }

    private static string ReadLink(string path) => new FileInfo(path).LinkTarget ?? path;

    // ---- the benchmark -----------------------------------------------------------------------

    private static int Run(Options o)
    {
        string rootfs = Path.GetFullPath(o.Rootfs!);
        string outDir = Path.GetFullPath(o.Out);
        if (!File.Exists(Path.Combine(rootfs, "bin", "busybox")))
        {
            Console.Error.WriteLine($"csrun-bench: {rootfs} is not a busybox rootfs (make rootfs, or rootfs/mkrootfs.sh DIR)");
            return 1;
        }
        string? mkbundle = o.Mkbundle ?? FindUpwards(Path.Combine("rootfs", "mkbundle.sh"));
        if (mkbundle is null || !File.Exists(mkbundle))
        {
            Console.Error.WriteLine("csrun-bench: rootfs/mkbundle.sh not found: run from the repository or pass --mkbundle");
            return 1;
        }
        Directory.CreateDirectory(outDir);

        var notes = new List<string>();
        var candidates = new List<(string Name, string? Path)>
        {
            ("csrun", o.Csrun is null ? null : Path.GetFullPath(o.Csrun)),
            ("crun", o.Crun is null ? FindOnPath("crun") : Path.GetFullPath(o.Crun)),
            ("runc", o.Runc is null ? FindOnPath("runc") : Path.GetFullPath(o.Runc)),
            // benchmarks/floor: the kernel work alone, the floor under every runtime (optional).
            ("floor", o.Floor is null ? null : Path.GetFullPath(o.Floor)),
            // benchmarks/floor/aot: the same behind an empty NativeAOT start built as csrun's (optional).
            ("floor-aot", o.FloorAot is null ? null : Path.GetFullPath(o.FloorAot)),
        };

        var work = Directory.CreateTempSubdirectory("csrun-bench.");
        var settings = new BenchSettings([], Path.Combine(work.FullName, "bundle"), work.FullName);
        var cleaned = false;
        void Cleanup()
        {
            if (cleaned) return;
            cleaned = true;
            RemoveLeftoverContainers(settings, candidates);
            try { work.Delete(recursive: true); } catch (Exception e) { Console.Error.WriteLine($"csrun-bench: removing {work.FullName}: {e.Message}"); }
        }
        Console.CancelKeyPress += (_, _) => Cleanup();
        try
        {
            var mk = Process.Start(new ProcessStartInfo("bash") { ArgumentList = { mkbundle, rootfs, settings.Bundle, "/bin/true" }, RedirectStandardOutput = true })!;
            mk.StandardOutput.ReadToEnd();
            mk.WaitForExit();
            if (mk.ExitCode != 0) { Console.Error.WriteLine("csrun-bench: mkbundle.sh failed"); return 1; }

            var runtimes = new List<(string Name, string Path)>();
            var originals = new Dictionary<string, string>();
            bool trialFailed = false;
            foreach (var (name, path) in candidates)
            {
                if (path is null) { notes.Add($"{name}: not benchmarked: no path given and not found on PATH."); continue; }
                if (!File.Exists(path)) { notes.Add($"{name}: not benchmarked: {path} does not exist{(name == "csrun" ? " (build it with `make csrun`)" : "")}."); continue; }
                string copy = CopyExecutable(path, Path.Combine(work.FullName, "bin"), name);
                string? problem = Check(settings, name, copy);
                if (problem is not null)
                {
                    notes.Add($"{name}: not benchmarked: a trial run failed: {problem}");
                    trialFailed = true; // an existing runtime that cannot run the bundle fails the benchmark
                    continue;
                }
                runtimes.Add((name, copy));
                originals[name] = path;
            }
            foreach (var n in notes) Console.WriteLine($"NOTE: {n}");
            if (runtimes.Count == 0) { Console.Error.WriteLine("csrun-bench: no runtime to benchmark"); return 1; }

            settings = settings with { Runtimes = runtimes };
            settings.Export();

            if (!PeakRss.Available)
                notes.Add($"peak RSS not measured: {PeakRss.GnuTime} is missing (apt-get install time).");
            else
                foreach (var (name, path) in runtimes)
                {
                    Console.WriteLine($"csrun-bench: peak RSS of {name}: {o.RssRuns} runs under {PeakRss.GnuTime}");
                    if (PeakRss.Measure(settings, name, path, o.RssRuns) is string problem)
                        notes.Add($"{name}: peak RSS not measured: {problem}");
                }

            var job = Job.Default
                .WithLaunchCount(1)
                .WithWarmupCount(o.Warmup)
                .WithIterationCount(o.Iterations)
                .WithInvocationCount(1)      // one container per iteration ...
                .WithUnrollFactor(1)         // ... and nothing batched
                .WithEvaluateOverhead(false) // the overhead of an empty call is nanoseconds against milliseconds
                .WithOutlierMode(OutlierMode.DontRemove) // keep slow runs: they are part of the distribution
                // The harness itself should not compete with the runtime it times on a 2-core host: no
                // background JIT tiering (re-compiles hot methods on a worker thread during the measured
                // runs) and no background GC thread.
                .WithEnvironmentVariables(new EnvironmentVariable("DOTNET_TieredCompilation", "0"))
                .WithGcConcurrent(false)
                .WithId("run");
            var config = ManualConfig.CreateEmpty()
                .AddJob(job)
                .AddLogger(ConsoleLogger.Default)
                .AddColumnProvider(DefaultColumnProviders.Instance)
                .AddColumn(StatisticColumn.Median, StatisticColumn.P90, new PeakRssColumn(settings))
                .AddExporter(MarkdownExporter.GitHub)
                // MinIterationTime wants >= 100 ms per iteration, which is for micro-benchmarks: one
                // iteration here is one whole container, and batching several would hide the spread.
                .AddAnalyser(DefaultConfig.Instance.GetAnalysers().Where(a => a.Id != "MinIterationTime").ToArray())
                .AddValidator(DefaultConfig.Instance.GetValidators().ToArray())
                .WithSummaryStyle(SummaryStyle.Default.WithTimeUnit(TimeUnit.Millisecond))
                .WithArtifactsPath(Path.Combine(outDir, "BenchmarkDotNet.Artifacts"))
                .WithOptions(ConfigOptions.JoinSummary);

            var summary = BenchmarkRunner.Run<RuntimeRunBenchmark>(config);
            Console.WriteLine($"csrun-bench: {o.Rounds} interleaved rounds (each runtime once a round, the order rotating)");
            var interleaved = Interleaved.Measure(settings, o.Rounds, warmupRounds: 3);
            Phases.Result? phases = null;
            if (runtimes.Exists(r => r.Name == "csrun"))
            {
                Console.WriteLine($"csrun-bench: {o.PhaseRuns} traced csrun runs (CSRUN_TRACE_PHASES=1, CSRUN_T0)");
                phases = Phases.Measure(settings, settings.PathOf("csrun"), o.PhaseRuns, warmupRuns: 3);
            }
            var markdown = Report(summary, interleaved, phases, settings, runtimes, originals, notes, o);
            string resultsPath = Path.Combine(outDir, "results.md");
            File.WriteAllText(resultsPath, markdown);
            Console.WriteLine();
            Console.WriteLine(markdown);
            Console.WriteLine($"written to {resultsPath}");
            return trialFailed || summary.HasCriticalValidationErrors || summary.Reports.Any(r => !r.Success) ? 1 : 0;
        }
        finally
        {
            Cleanup();
        }
    }

    /// <summary>
    /// The executable as the benchmark runs it: a copy in its work directory, written as cp and install write
    /// one. How a file was last written or read decides how the page cache holds it, and so what mapping its
    /// pages at each start and unmapping them at each exit cost: a linker's small writes leave it in 4 kB
    /// folios, a cold read in 4 and 16 kB ones, a copy in 64 kB ones. From the former a csrun start took 5%
    /// longer here, crun's (0.5 MB) the same, runc's 1-5% longer. Copies put every runtime in the same state.
    /// </summary>
    private static string CopyExecutable(string path, string dir, string name)
    {
        Directory.CreateDirectory(dir);
        string copy = Path.Combine(dir, name);
        File.Copy(path, copy); // keeps the mode on Unix
        return copy;
    }

    /// <summary>One untimed run, so that a runtime that cannot run the bundle is reported, not benchmarked.</summary>
    private static string? Check(BenchSettings settings, string name, string path)
    {
        string state = settings.StateDir(name), log = settings.StderrLog(name);
        Directory.CreateDirectory(state);
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        string id = $"csrun-bench-check-{name}-{Environment.ProcessId}";
        try
        {
            var r = PreparedCommand.RunOnce(path, ["--root", state, "run", "--bundle", settings.Bundle, id], log);
            if (r.Success) return null;
            string stderr = File.Exists(log) ? File.ReadAllText(log).Trim() : "";
            return $"{r}{(stderr.Length > 0 ? ": " + stderr : "")}";
        }
        catch (Exception e) { return e.Message; }
        finally
        {
            if (Directory.Exists(Path.Combine(state, id)))
                try { PreparedCommand.RunOnce(path, ["--root", state, "delete", "-f", id], log + ".delete"); } catch (Exception) { }
        }
    }

    private static void RemoveLeftoverContainers(BenchSettings settings, IEnumerable<(string Name, string? Path)> runtimes)
    {
        foreach (var (name, path) in runtimes)
        {
            string state = settings.StateDir(name);
            if (path is null || !File.Exists(path) || !Directory.Exists(state)) continue;
            foreach (var dir in Directory.GetDirectories(state))
            {
                string id = Path.GetFileName(dir);
                Console.Error.WriteLine($"csrun-bench: {name} left container {id} behind: delete -f");
                try { PreparedCommand.RunOnce(path, ["--root", state, "delete", "-f", id], Path.Combine(settings.WorkDir, "leftover.stderr")); }
                catch (Exception e) { Console.Error.WriteLine($"csrun-bench: {e.Message}"); }
            }
        }
    }

    // ---- the report --------------------------------------------------------------------------

    private sealed record Row(string Name, double MedianMs, double P90Ms, double? RssMiB, int Samples);

    private static string Report(Summary summary, List<Interleaved.Result> interleaved, Phases.Result? phases, BenchSettings settings,
        List<(string Name, string Path)> runtimes, Dictionary<string, string> originals, List<string> notes, Options o)
    {
        var rows = new List<Row>();
        foreach (var report in summary.Reports)
        {
            var name = (string)report.BenchmarkCase.Parameters["Runtime"];
            var stats = report.ResultStatistics;
            if (stats is null) { notes.Add($"{name}: the benchmark failed (see the BenchmarkDotNet log above)."); continue; }
            rows.Add(new Row(name, stats.Median / 1e6, stats.Percentiles.P90 / 1e6, PeakRss.MedianMiB(settings, name), stats.N));
        }
        var order = new[] { "csrun", "crun", "runc", "floor", "floor-aot" };
        rows = rows.OrderBy(r => Array.IndexOf(order, r.Name)).ToList();
        Row? crun = rows.FirstOrDefault(r => r.Name == "crun"), runc = rows.FirstOrDefault(r => r.Name == "runc"), csrun = rows.FirstOrDefault(r => r.Name == "csrun");

        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Container start-up: `RUNTIME --root STATE run --bundle BUNDLE ID` of /bin/true");
        sb.AppendLine();
        sb.AppendLine("| runtime | median ms | p90 ms | peak RSS MiB | ratio to crun |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            string ratio = crun is null ? "n/a" : (r.MedianMs / crun.MedianMs).ToString("0.00", inv) + "×";
            string rss = r.RssMiB is double v ? v.ToString("0.0", inv) : "?";
            sb.AppendLine(inv, $"| {r.Name} | {r.MedianMs:0.00} | {r.P90Ms:0.00} | {rss} | {ratio} |");
        }
        sb.AppendLine();
        if (csrun is null)
            sb.AppendLine("csrun: not measured, so no csrun ratios.");
        else
        {
            string Ratio(Row? other) => other is null ? "n/a" : (csrun.MedianMs / other.MedianMs).ToString("0.00", inv) + "×";
            string RssRatio(Row? other) => other?.RssMiB is double b && csrun.RssMiB is double a ? (a / b).ToString("0.00", inv) + "×" : "n/a";
            sb.AppendLine($"csrun / crun: {Ratio(crun)} median time, {RssRatio(crun)} peak RSS");
            sb.AppendLine($"csrun / runc: {Ratio(runc)} median time, {RssRatio(runc)} peak RSS");
        }
        sb.AppendLine();
        sb.AppendLine($"Interleaved, {o.Rounds} rounds (each runtime once a round, in rotating order; the host's drift falls on all alike):");
        sb.AppendLine();
        sb.AppendLine("| runtime | median ms | p90 ms | ratio to crun |");
        sb.AppendLine("|---|---:|---:|---:|");
        var rr = interleaved.OrderBy(r => Array.IndexOf(order, r.Name)).ToList();
        var rrCrun = rr.FirstOrDefault(r => r.Name == "crun");
        foreach (var r in rr)
        {
            string ratio = rrCrun is null ? "n/a" : (r.MedianMs / rrCrun.MedianMs).ToString("0.00", inv) + "×";
            sb.AppendLine(inv, $"| {r.Name} | {r.MedianMs:0.00} | {r.P90Ms:0.00} | {ratio} |");
        }
        if (rr.FirstOrDefault(r => r.Name == "csrun") is { } rrCsrun)
        {
            sb.AppendLine();
            foreach (var other in new[] { "crun", "runc" })
                if (rr.FirstOrDefault(r => r.Name == other) is { } o2)
                    sb.AppendLine(inv, $"csrun / {other}, interleaved: {rrCsrun.MedianMs / o2.MedianMs:0.00}× median time");
        }
        if (phases is not null)
        {
            sb.AppendLine();
            sb.AppendLine($"Where a csrun start spends its time: medians of {phases.Runs} traced runs (CSRUN_TRACE_PHASES=1, CSRUN_T0 " +
                          "stamped at posix_spawn, so the first phase includes exec and the .NET start; each phase ends where the next " +
                          "begins; the managed allocations of each):");
            sb.AppendLine();
            sb.AppendLine("| phase | median ms | allocated kB |");
            sb.AppendLine("|---|---:|---:|");
            foreach (var ph in phases.Phases)
                sb.AppendLine(inv, $"| {ph.Name} | {ph.MedianMs:0.000} | {ph.MedianKiB:0.0} |");
            sb.AppendLine(inv, $"| sum of the medians | {phases.Phases.Sum(ph => ph.MedianMs):0.000} | {phases.Phases.Sum(ph => ph.MedianKiB):0.0} |");
            sb.AppendLine();
            sb.AppendLine(inv, $"A traced run took {phases.TracedTotalMs:0.00} ms (median, spawn to wait4: the phases plus csrun's exit and " +
                               $"the trace's own output); {phases.MedianAllocatedBytes / 1024.0:0} kB allocated on the managed heap; the " +
                               $"namespaces came from start-up in {phases.FromStartUp} of {phases.Runs} runs.");
        }
        foreach (var n in notes) { sb.AppendLine(); sb.AppendLine($"Note: {n}"); }
        sb.AppendLine();
        sb.AppendLine($"Method: BenchmarkDotNet, per runtime {o.Warmup} warmup runs then {o.Iterations} measured runs (one container each, " +
                      "no outliers removed); a sample is posix_spawn() of the runtime to wait4() returning. The bundle (busybox, " +
                      "runc's default spec plus a cgroup namespace, process /bin/true) is created once; every run uses a new " +
                      "container id and its own --root state directory per runtime. Each runtime runs from a copy of its " +
                      "executable in the benchmark's work directory (written as cp writes one), so that all sit in the page cache " +
                      $"alike. Peak RSS: median over {o.RssRuns} separate runs " +
                      "under GNU time (-f %M) of ru_maxrss, the peak of the largest process in the runtime's process tree.");
        sb.AppendLine();
        sb.AppendLine("Host: " + HostDescription());
        foreach (var (name, path) in runtimes) sb.AppendLine($"- {name}: `{originals[name]}` {Version(path)}");
        return sb.ToString();
    }

    private static string HostDescription()
    {
        string kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "?";
        string cgroups = File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "cgroup v2"
            : Environment.GetEnvironmentVariable(InNamespaceVar) == "1" ? $"cgroup v1 (hybrid host, {UnifiedMount} unmounted in the benchmark's mount namespace)"
            : "cgroup v1";
        return $"Linux {kernel}, {Environment.ProcessorCount} CPUs, {cgroups}, .NET {Environment.Version}";
    }

    private static string Version(string path)
    {
        try
        {
            var p = Process.Start(new ProcessStartInfo(path, "--version") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            string first = p.StandardOutput.ReadToEnd().Split('\n').FirstOrDefault()?.Trim() ?? "";
            p.WaitForExit();
            return first.Length > 0 ? $"({first})" : "";
        }
        catch (Exception) { return ""; }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);

    private static string? FindUpwards(string relative)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, relative))) return Path.Combine(d.FullName, relative);
        return null;
    }
}
