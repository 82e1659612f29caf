namespace Csrun.Benchmarks;

/// <summary>
/// The same sample as <see cref="RuntimeRunBenchmark"/> (posix_spawn() of `RUNTIME --root STATE run --bundle
/// BUNDLE ID` to wait4() returning), taken round-robin: every round runs each runtime once, starting one
/// runtime further each round. BenchmarkDotNet takes each runtime's samples in one stretch, and on a shared
/// 2-core VM the host's own load moves whole stretches by 20–30%; interleaved, that drift falls on every
/// runtime alike, so the ratios hold better than any single stretch does.
/// </summary>
internal static class Interleaved
{
    public sealed record Result(string Name, double MedianMs, double P90Ms, int Samples);

    public static List<Result> Measure(BenchSettings settings, int rounds, int warmupRounds)
    {
        var runtimes = settings.Runtimes;
        var samples = runtimes.ToDictionary(r => r.Name, _ => new List<double>(rounds));
        int sequence = 0;
        for (int round = -warmupRounds; round < rounds; round++)
        {
            for (int k = 0; k < runtimes.Count; k++)
            {
                var (name, path) = runtimes[(k + Math.Abs(round)) % runtimes.Count];
                string state = settings.StateDir(name), log = settings.StderrLog(name);
                Directory.CreateDirectory(state);
                Directory.CreateDirectory(Path.GetDirectoryName(log)!);
                string id = $"csrun-bench-rr-{name}-{Environment.ProcessId}-{++sequence}";
                var (result, ms) = PreparedCommand.TimeContainerRun(path, state, settings.Bundle, id, log);
                if (!result.Success)
                    throw new InvalidOperationException($"{name} run {id}: {result}: {File.ReadAllText(log).Trim()}");
                if (round >= 0) samples[name].Add(ms);
            }
        }
        return runtimes.Select(r =>
        {
            var s = samples[r.Name];
            s.Sort();
            return new Result(r.Name, Stats.Percentile(s, 0.5), Stats.Percentile(s, 0.9), s.Count);
        }).ToList();
    }
}
