namespace Csrun.Cgroups;

/// <summary>A snapshot of a cgroup's counters. Limits are null when unlimited or not readable.</summary>
public sealed class CgroupStats
{
    public ulong? MemoryUsageBytes { get; set; }
    public ulong? MemoryMaxUsageBytes { get; set; }
    public ulong? MemoryLimitBytes { get; set; }
    public ulong? SwapUsageBytes { get; set; }
    public ulong? CpuUsageNanoseconds { get; set; }
    public ulong? PidsCurrent { get; set; }
    public ulong? PidsLimit { get; set; }
    /// <summary>Processes the kernel's OOM killer has killed in this cgroup (v1 memory.oom_control, v2 memory.events).</summary>
    public ulong? OomKills { get; set; }

    /// <summary>The value of "KEY N" in a flat keyed cgroup file, or null.</summary>
    internal static ulong? KeyedValue(string? text, string key)
    {
        if (text is null) return null;
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (line.StartsWith(key) && line.Length > key.Length && line[key.Length] == ' ' && ulong.TryParse(line[(key.Length + 1)..], out ulong v)) return v;
        }
        return null;
    }
}
