using System.Runtime.InteropServices;
using System.Text;
using Csrun.Cgroups;
using Csrun.Engine.Native;
using Csrun.Engine.Specs;
using Csrun.Engine.State;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine;

// pause, resume, ps, events --stats and update: operations on the container's cgroup.
public sealed partial class ContainerRuntime
{

    public void Pause(string id)
    {
        using var dir = _store.Open(id);
        string status = StatusOf(dir);
        if (status is not (ContainerStatus.Running or ContainerStatus.Created))
            throw new ContainerException($"container {id} is not running: {status}");
        using var cgroup = RequireCgroup(dir.Record);
        cgroup.Freeze();
    }

    public void Resume(string id)
    {
        using var dir = _store.Open(id);
        string status = StatusOf(dir);
        if (status != ContainerStatus.Paused) throw new ContainerException($"container {id} is not paused: {status}");
        using var cgroup = RequireCgroup(dir.Record);
        cgroup.Thaw();
    }

    /// <summary>`ps`: the pids in the container's cgroup, as the host sees them.</summary>
    public IReadOnlyList<int> Pids(string id)
    {
        using var dir = _store.Open(id, exclusive: false);
        if (StatusOf(dir) == ContainerStatus.Stopped) return [];
        using var cgroup = CgroupOf(dir.Record);
        return cgroup?.GetPids() ?? [dir.Record.Pid];
    }

    /// <summary>`events --stats`: one snapshot of the container's cgroup counters; null once it has stopped.</summary>
    public CgroupStats? Stats(string id)
    {
        using var dir = _store.Open(id, exclusive: false);
        if (StatusOf(dir) == ContainerStatus.Stopped) return null;
        using var cgroup = RequireCgroup(dir.Record);
        return cgroup.GetStats();
    }

    /// <summary>The OOM kills its cgroup has counted, running or stopped (the cgroup stays until delete); null when
    /// the container or its cgroup is gone.</summary>
    public ulong? OomKills(string id)
    {
        try
        {
            using var dir = _store.Open(id, exclusive: false);
            using var cgroup = CgroupOf(dir.Record);
            return cgroup?.GetStats().OomKills;
        }
        catch (Exception e) when (e is ContainerException or CgroupException or IOException)
        {
            return null;
        }
    }

    /// <summary>`update`: writes the given resources (only the fields that are set) to the live cgroup.</summary>
    public void Update(string id, LinuxResources resources)
    {
        using var dir = _store.Open(id);
        string status = StatusOf(dir);
        if (status == ContainerStatus.Stopped) throw new ContainerException($"container {id} is stopped");
        using var cgroup = RequireCgroup(dir.Record);
        cgroup.Set(resources);
    }
}
