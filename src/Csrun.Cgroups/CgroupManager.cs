using Csrun.Cgroups.V1;
using Csrun.Cgroups.V2;

namespace Csrun.Cgroups;

public static class CgroupManager
{
    /// <summary>The manager for path (as returned by <see cref="CgroupPaths.Resolve(string?, string, bool)"/>)
    /// on a host with this layout. Nothing is created until <see cref="ICgroupManager.Create"/>.</summary>
    public static ICgroupManager Create(CgroupLayout layout, string path)
    {
        if (path.Length < 2 || path[0] != '/' || path.Contains("/../") || path.EndsWith("/..", StringComparison.Ordinal))
            throw new CgroupException($"invalid cgroup path \"{path}\"");
        return layout.Mode switch
        {
            CgroupMode.V1 => new CgroupV1Manager(layout.V1Hierarchies, path),
            CgroupMode.Unified => new CgroupV2Manager(layout.UnifiedMount!, path),
            _ => new HybridCgroupManager(new CgroupV1Manager(layout.V1Hierarchies, path), new CgroupV2Manager(layout.UnifiedMount!, path)),
        };
    }
}
