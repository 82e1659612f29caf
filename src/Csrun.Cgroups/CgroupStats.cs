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
}
