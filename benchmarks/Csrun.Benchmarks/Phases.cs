using System.Globalization;
using System.Text.RegularExpressions;

namespace Csrun.Benchmarks;

/// <summary>
/// Where a csrun start spends its time: `csrun run` of the benchmark's bundle with its phase trace on
/// (CSRUN_TRACE_PHASES=1, CSRUN_T0 stamped right before posix_spawn, so the first phase includes exec and the
/// runtime's start), the median of each phase over many runs. The trace's own output is not charged to any
/// phase, but it makes a traced run longer than an untraced one: the phases, not the traced total, are the
/// numbers to read.
/// </summary>
internal static partial class Phases
{
    public sealed record Phase(string Name, double MedianMs, double MedianKiB);
    public sealed record Result(List<Phase> Phases, double TracedTotalMs, double MedianAllocatedBytes, int Runs, int FromStartUp);

    // PhaseTimer.Mark: "phase NAME  MS ms  KB kB"; PhaseTimer.Allocations: "allocated N bytes, ...".
    [GeneratedRegex(@"^phase (?<name>.+?)\s+(?<ms>-?[0-9.]+) ms\s+(?<kb>-?[0-9.]+) kB$")]
    private static partial Regex PhaseLine();
    [GeneratedRegex(@"^allocated (?<bytes>[0-9]+) bytes")]
    private static partial Regex AllocatedLine();

    public static Result Measure(BenchSettings settings, string csrun, int runs, int warmupRuns)
    {
        const string name = "csrun-phases";
        string state = settings.StateDir(name), log = settings.StderrLog(name);
        Directory.CreateDirectory(state);
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        var order = new List<string>();
        var ms = new Dictionary<string, List<double>>();
        var kib = new Dictionary<string, List<double>>();
        var totals = new List<double>();
        var allocated = new List<double>();
        int fromStartUp = 0;
        for (int i = -warmupRuns; i < runs; i++)
        {
            string id = $"csrun-bench-phases-{Environment.ProcessId}-{i + warmupRuns}";
            var (result, total) = PreparedCommand.TimeContainerRun(csrun, state, settings.Bundle, id, log, traceStart: true);
            string[] lines = File.ReadAllLines(log);
            if (!result.Success)
                throw new InvalidOperationException($"csrun run {id} (traced): {result}: {string.Join('\n', lines).Trim()}");
            if (i < 0) continue;
            totals.Add(total);
            foreach (string line in lines)
            {
                if (PhaseLine().Match(line) is { Success: true } m)
                {
                    string phase = m.Groups["name"].Value;
                    if (!ms.ContainsKey(phase)) { order.Add(phase); ms[phase] = []; kib[phase] = []; }
                    ms[phase].Add(double.Parse(m.Groups["ms"].Value, CultureInfo.InvariantCulture));
                    kib[phase].Add(double.Parse(m.Groups["kb"].Value, CultureInfo.InvariantCulture));
                }
                else if (AllocatedLine().Match(line) is { Success: true } a)
                    allocated.Add(double.Parse(a.Groups["bytes"].Value, CultureInfo.InvariantCulture));
                else if (line.StartsWith("note ", StringComparison.Ordinal) && line.Contains("made at start-up", StringComparison.Ordinal))
                    fromStartUp++;
            }
        }
        if (order.Count == 0)
            throw new InvalidOperationException($"csrun printed no phases with CSRUN_TRACE_PHASES=1 (stderr: {log})");
        var phases = order.Select(p => new Phase(p, Stats.Median(ms[p]), Stats.Median(kib[p]))).ToList();
        return new Result(phases, Stats.Median(totals), allocated.Count > 0 ? Stats.Median(allocated) : 0, runs, fromStartUp);
    }
}
