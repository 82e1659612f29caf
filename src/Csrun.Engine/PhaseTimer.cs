using System.Diagnostics;

namespace Csrun.Engine;

/// <summary>
/// Start-path phase timings for the benchmark (CSRUN_TRACE_PHASES=1): one line per phase on stderr,
/// milliseconds since the previous mark. Costs one environment lookup when off.
/// </summary>
public static class PhaseTimer
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("CSRUN_TRACE_PHASES") == "1";
    // CSRUN_T0: the caller's CLOCK_MONOTONIC in ns just before it spawned csrun (Stopwatch reads the same
    // clock here), so the first phase includes exec, the dynamic loader and the runtime's start.
    private static long _last = Enabled && long.TryParse(Environment.GetEnvironmentVariable("CSRUN_T0"), out long t0)
        ? (long)((Int128)t0 * Stopwatch.Frequency / 1_000_000_000) : Stopwatch.GetTimestamp();
    private static long _allocated;

    /// <summary>The clock CSRUN_T0 is read against (CLOCK_MONOTONIC) in nanoseconds: what a caller stamps into
    /// CSRUN_T0 right before it spawns csrun.</summary>
    public static long MonotonicNs() => (long)((Int128)Stopwatch.GetTimestamp() * 1_000_000_000 / Stopwatch.Frequency);

    public static void Mark(string phase)
    {
        if (!Enabled) return;
        long now = Stopwatch.GetTimestamp();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        Console.Error.WriteLine($"phase {phase,-24} {Stopwatch.GetElapsedTime(_last, now).TotalMilliseconds,7:F3} ms {(allocated - _allocated) / 1024.0,7:F1} kB");
        _allocated = GC.GetAllocatedBytesForCurrentThread();
        // The next phase starts after this line is out: the first write sets up the console, ~0.2 ms.
        _last = Stopwatch.GetTimestamp();
    }

    /// <summary>A line about how this start went, in between the phases.</summary>
    public static void Note(string text)
    {
        if (!Enabled) return;
        long t = Stopwatch.GetTimestamp();
        Console.Error.WriteLine($"note {text}");
        _last += Stopwatch.GetTimestamp() - t; // not charged to the phase it interrupts
    }

    /// <summary>The managed heap's share of a start: every allocated byte is a page fault at first touch and
    /// a page to free at exit.</summary>
    public static void Allocations()
    {
        if (!Enabled) return;
        Console.Error.WriteLine($"allocated {GC.GetTotalAllocatedBytes(false)} bytes, {GC.CollectionCount(0)} gen0 collections, " +
            $"working set {Environment.WorkingSet / 1024} KiB");
    }
}
