using System.Runtime.InteropServices;
using System.Text;
using Csrun.Cgroups;
using Csrun.Engine.Native;
using Csrun.Engine.Specs;
using Csrun.Engine.State;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine;

// state and list: the status is computed from the live system, never trusted from disk.
public sealed partial class ContainerRuntime
{

    public RuncState State(string id)
    {
        using var dir = _store.Open(id, exclusive: false);
        return RuncStateOf(dir);
    }

    public List<RuncState> List()
    {
        var list = new List<RuncState>();
        foreach (var id in _store.Ids())
        {
            try
            {
                using var dir = _store.Open(id, exclusive: false);
                list.Add(RuncStateOf(dir));
            }
            catch (ContainerException)
            {
                // Deleted while we listed.
            }
        }
        return list;
    }

    private RuncState RuncStateOf(ContainerDir dir)
    {
        var r = dir.Record;
        string status = StatusOf(dir);
        return new RuncState
        {
            Id = r.Id,
            Pid = status == ContainerStatus.Stopped ? 0 : r.Pid,
            Status = status,
            Bundle = r.Bundle,
            Rootfs = r.Rootfs,
            Created = r.Created,
            Owner = r.Owner,
            Annotations = r.Annotations,
        };
    }

    /// <summary>Computed from the live system, never trusted from disk: a container whose init died on its own is "stopped".</summary>
    public string StatusOf(ContainerDir dir)
    {
        var r = dir.Record;
        if (!ProcInfo.IsAlive(r.Pid, r.PidStartTime)) return ContainerStatus.Stopped;
        if (File.Exists(dir.FifoPath)) return ContainerStatus.Created;
        try
        {
            using var cgroup = CgroupOf(r);
            if (cgroup?.IsFrozen() == true) return ContainerStatus.Paused;
        }
        catch (Exception e) when (e is CgroupException or IOException)
        {
        }
        return ContainerStatus.Running;
    }

    private static ContainerState OciState(ContainerRecord r, string status) => new()
    {
        Id = r.Id,
        Status = status,
        Pid = status == ContainerStatus.Stopped ? 0 : r.Pid,
        Bundle = r.Bundle,
        Annotations = r.Annotations,
    };
}
