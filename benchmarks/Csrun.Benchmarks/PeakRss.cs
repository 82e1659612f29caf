namespace Csrun.Benchmarks;

/// <summary>
/// Peak resident set size of a runtime running the benchmark's container, measured in a separate
/// untimed loop before the timed runs.
/// <para>
/// The number is ru_maxrss from wait4() on the runtime process: the larger of its own high-water
/// RSS and that of every descendant it reaped (Linux folds reaped children's maxrss into the
/// parent's). For runc that covers `runc run` and `runc init`; for crun `crun run` and its forked
/// child. It is the peak of the largest single process in the tree, not the sum of concurrent ones.
/// </para>
/// <para>
/// Why not wait4() on the timed runs themselves: they are started with posix_spawn(), which (like
/// .NET's Process.Start) uses vfork semantics, so the child runs in the benchmark's own address
/// space until it execs, and exec() records the old address space's high-water RSS in the
/// process's ru_maxrss. Every runtime would then report the .NET process's ~40 MiB. The number
/// is only clean if the runtime is exec'd from a process with a small address space, after a real
/// fork(): that is exactly what GNU time does, so each sample is
/// `/usr/bin/time -o FILE -f %M RUNTIME --root STATE run --bundle BUNDLE ID`. GNU time's own
/// footprint (~1 MiB, copied at fork) is a floor well below every runtime's. Wrapping the timed
/// runs in time as well would add its fork+exec to every sample, hence the separate loop.
/// (busybox time's -v output is no help: its RSS is misscaled.)
/// </para>
/// </summary>
public static class PeakRss
{
    public const string GnuTime = "/usr/bin/time";

    public static bool Available => File.Exists(GnuTime);

    /// <summary>Runs the container <paramref name="count"/> times under GNU time and writes one KiB value a line to the runtime's RSS file.</summary>
    /// <returns>null, or what went wrong</returns>
    public static string? Measure(BenchSettings settings, string name, string path, int count)
    {
        string state = settings.StateDir(name), log = settings.StderrLog(name) + ".rss";
        string rssFile = settings.RssFile(name), timeOut = rssFile + ".sample";
        Directory.CreateDirectory(Path.GetDirectoryName(rssFile)!);
        var samples = new List<long>();
        for (int i = 0; i < count; i++)
        {
            string id = $"csrun-bench-rss-{name}-{Environment.ProcessId}-{i}";
            var r = PreparedCommand.RunOnce(GnuTime, ["-o", timeOut, "-f", "%M", path, "--root", state, "run", "--bundle", settings.Bundle, id], log);
            if (Directory.Exists(Path.Combine(state, id)))
                PreparedCommand.RunOnce(path, ["--root", state, "delete", "-f", id], log + ".delete");
            if (!r.Success) return $"{r}: {(File.Exists(log) ? File.ReadAllText(log).Trim() : "")}";
            // The last line: GNU time writes "Command exited with non-zero status" lines before it.
            var last = File.ReadAllLines(timeOut).LastOrDefault(l => l.Trim().Length > 0)?.Trim();
            if (!long.TryParse(last, out long kib)) return $"unexpected output from {GnuTime}: {last}";
            samples.Add(kib);
        }
        File.WriteAllLines(rssFile, samples.Select(k => k.ToString()));
        return null;
    }

    public static double? MedianMiB(BenchSettings settings, string runtime)
    {
        var path = settings.RssFile(runtime);
        if (!File.Exists(path)) return null;
        var kib = File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => (double)long.Parse(l)).ToList();
        if (kib.Count == 0) return null;
        return Stats.Median(kib) / 1024.0;
    }
}
