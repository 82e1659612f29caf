using Csrun.Cgroups.V1;
using Csrun.Cgroups.V2;
using Csrun.Oci;

namespace Csrun.Cgroups;

/// <summary>A hybrid host: the v1 hierarchies carry most controllers, the cgroup2 mount offers the rest
/// (often only hugetlb, or nothing). The container joins both; each resource goes to whichever hierarchy
/// has its controller, v1 first.</summary>
public sealed class HybridCgroupManager(CgroupV1Manager v1, CgroupV2Manager v2) : ICgroupManager
{
    public CgroupV1Manager V1 { get; } = v1;
    public CgroupV2Manager V2 { get; } = v2;

    public string Path => V1.Path;

    /// <summary>Places the child in the unified tree only; v1 needs <see cref="SelfJoinFiles"/> or <see cref="Apply"/>.</summary>
    public int CloneIntoCgroupFd => V2.CloneIntoCgroupFd;

    public void Create()
    {
        V1.Create();
        V2.Create();
    }

    public void CreateForClone() => V2.Create();

    public IReadOnlyList<CgroupJoinFile> SelfJoinFiles => V1.SelfJoinFiles;

    public IReadOnlyList<string> SelfJoinPaths => V1.SelfJoinPaths;

    public void Apply(int pid, CgroupJoined joined = CgroupJoined.None)
    {
        V1.Apply(pid, joined);
        V2.Apply(pid, joined);
    }

    public void Set(LinuxResources resources) => ResourceRouter.Set(resources, V1, V2);

    // The v2 freezer (cgroup.freeze) works without any controller, so it serves when v1 has no freezer.
    private bool HasV1Freezer => V1.DirectoryOf("freezer") is not null;

    public void Freeze()
    {
        if (HasV1Freezer) V1.Freeze();
        else V2.Freeze();
    }

    public void Thaw()
    {
        if (HasV1Freezer) V1.Thaw();
        else V2.Thaw();
    }

    public bool IsFrozen() => HasV1Freezer ? V1.IsFrozen() : V2.IsFrozen();

    public IReadOnlyList<int> GetPids() => V1.GetPids();

    public void Destroy()
    {
        CgroupException? first = null;
        try { V1.Destroy(); } catch (CgroupException e) { first = e; }
        try { V2.Destroy(); } catch (CgroupException e) { first ??= e; }
        if (first is not null) throw first;
    }

    public CgroupStats GetStats()
    {
        var s = V1.GetStats();
        if (s.CpuUsageNanoseconds is null) s.CpuUsageNanoseconds = V2.GetStats().CpuUsageNanoseconds;
        return s;
    }

    public void Dispose()
    {
        V1.Dispose();
        V2.Dispose();
    }
}
