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

    // From memory.stat (hierarchical totals on v1): what the kubelet's working set and RSS are made of.
    public ulong? MemoryInactiveFileBytes { get; set; }
    public ulong? MemoryRssBytes { get; set; }
    public ulong? PageFaults { get; set; }
    public ulong? MajorPageFaults { get; set; }

    /// <summary>Usage less inactive file pages, as cAdvisor and the kubelet count a working set.</summary>
    public ulong? WorkingSetBytes => MemoryUsageBytes is { } u
        ? u - Math.Min(u, MemoryInactiveFileBytes ?? 0)
        : null;

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
