using Csrun.Oci;

namespace Csrun.Cgroups;

internal enum Controller { Memory, Cpu, Cpuset, Pids, BlockIo, Hugetlb, NetCls, NetPrio, Rdma, Devices }

/// <summary>What a v1 or v2 backend knows how to write. The router decides which backend gets which
/// resource, so a hybrid host sends each one to whichever hierarchy carries its controller.</summary>
internal interface IResourceWriter
{
    bool Has(Controller controller);
    void SetMemory(LinuxMemory memory);
    void SetCpu(LinuxCpu cpu);
    void SetCpuset(LinuxCpu cpu);
    void SetPids(LinuxPids pids);
    void SetBlockIo(LinuxBlockIo blockIo);
    void SetHugepages(List<LinuxHugepageLimit> limits);
    void SetNetwork(LinuxNetwork network);
    void SetRdma(Dictionary<string, LinuxRdma> rdma);
    void SetDevices(DeviceRule[] rules, DeviceRuleSet effective);
    void SetUnified(Dictionary<string, string> unified);
}

internal static class ResourceRouter
{
    /// <summary>Applies resources in runc's order (cpuset before memory, devices late, unified last so it can
    /// override anything). A v1 hierarchy wins over the unified tree for a controller both could offer.</summary>
    public static void Set(LinuxResources r, IResourceWriter? v1, IResourceWriter? v2)
    {
        var cpu = r.Cpu;
        if (cpu is not null && (!string.IsNullOrEmpty(cpu.Cpus) || !string.IsNullOrEmpty(cpu.Mems)))
            Pick(Controller.Cpuset, "linux.resources.cpu.cpus", v1, v2).SetCpuset(cpu);
        if (r.Memory is not null && HasMemoryFields(r.Memory))
            Pick(Controller.Memory, "linux.resources.memory", v1, v2).SetMemory(r.Memory);
        if (cpu is not null && HasCpuFields(cpu))
            Pick(Controller.Cpu, "linux.resources.cpu", v1, v2).SetCpu(cpu);
        if (r.Pids is not null)
            Pick(Controller.Pids, "linux.resources.pids", v1, v2).SetPids(r.Pids);
        if (r.BlockIO is not null && HasBlockIoFields(r.BlockIO))
            Pick(Controller.BlockIo, "linux.resources.blockIO", v1, v2).SetBlockIo(r.BlockIO);
        if (r.HugepageLimits is { Count: > 0 })
            Pick(Controller.Hugetlb, "linux.resources.hugepageLimits", v1, v2).SetHugepages(r.HugepageLimits);
        if (r.Network is not null)
        {
            if (r.Network.ClassID is not null) Pick(Controller.NetCls, "linux.resources.network.classID", v1, null);
            if (r.Network.Priorities is { Count: > 0 }) Pick(Controller.NetPrio, "linux.resources.network.priorities", v1, null);
            if (r.Network.ClassID is not null || r.Network.Priorities is { Count: > 0 }) v1!.SetNetwork(r.Network);
        }
        if (r.Rdma is { Count: > 0 })
            Pick(Controller.Rdma, "linux.resources.rdma", v1, v2).SetRdma(r.Rdma);
        if (r.Devices is not null)
        {
            // Validated (and reduced to the v1 semantics) before anything is written.
            var rules = DeviceRule.FromSpec(r.Devices);
            var effective = DeviceRuleSet.From(rules);
            Pick(Controller.Devices, "linux.resources.devices", v1, v2).SetDevices(rules, effective);
        }
        if (r.Unified is { Count: > 0 })
        {
            if (v2 is null) throw new CgroupException("linux.resources.unified: cgroup v2 is not available on this host (cgroup v1 only)");
            v2.SetUnified(r.Unified);
        }
    }

    private static IResourceWriter Pick(Controller c, string field, IResourceWriter? v1, IResourceWriter? v2)
    {
        if (v1 is not null && v1.Has(c)) return v1;
        if (v2 is not null && v2.Has(c)) return v2;
        throw new CgroupException($"{field}: the {Name(c, v1 is null)} cgroup controller is not available on this host");
    }

    public static string Name(Controller c, bool v2) => c switch
    {
        Controller.Memory => "memory",
        Controller.Cpu => "cpu",
        Controller.Cpuset => "cpuset",
        Controller.Pids => "pids",
        Controller.BlockIo => v2 ? "io" : "blkio",
        Controller.Hugetlb => "hugetlb",
        Controller.NetCls => "net_cls",
        Controller.NetPrio => "net_prio",
        Controller.Rdma => "rdma",
        _ => "devices",
    };

    private static bool HasMemoryFields(LinuxMemory m) =>
        m.Limit is not null || m.Reservation is not null || m.Swap is not null || m.KernelTCP is not null ||
        m.Swappiness is not null || m.DisableOOMKiller == true;

    private static bool HasCpuFields(LinuxCpu c) =>
        c.Shares is not null || c.Quota is not null || c.Period is not null || c.Burst is not null ||
        c.RealtimeRuntime is not null || c.RealtimePeriod is not null || c.Idle is not null;

    private static bool HasBlockIoFields(LinuxBlockIo b) =>
        b.Weight is not null || b.LeafWeight is not null || b.WeightDevice is { Count: > 0 } ||
        b.ThrottleReadBpsDevice is { Count: > 0 } || b.ThrottleWriteBpsDevice is { Count: > 0 } ||
        b.ThrottleReadIOPSDevice is { Count: > 0 } || b.ThrottleWriteIOPSDevice is { Count: > 0 };

    /// <summary>Hugepage size strings end up in file names: accept only what the kernel names them ("2MB", "1GB").</summary>
    public static string CheckPageSize(string size, int index)
    {
        bool ok = size.Length is > 2 and < 16 && (size.EndsWith("KB", StringComparison.Ordinal) || size.EndsWith("MB", StringComparison.Ordinal) || size.EndsWith("GB", StringComparison.Ordinal));
        for (int i = 0; ok && i < size.Length - 2; i++) ok = char.IsAsciiDigit(size[i]);
        return ok ? size : throw new CgroupException($"linux.resources.hugepageLimits[{index}].pageSize: invalid page size \"{size}\" (want e.g. 2MB, 1GB)");
    }

    public static string DeviceKey(long major, long minor) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{major}:{minor}");
}
