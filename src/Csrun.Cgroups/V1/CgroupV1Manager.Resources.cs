using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Cgroups.V1;

// linux.resources → cgroup v1 control files. A null spec field leaves the file alone; 0 does too where runc
// treats 0 as "unset" (limits, shares, quota, period).
public sealed partial class CgroupV1Manager
{
    bool IResourceWriter.Has(Controller c) => c switch
    {
        Controller.NetCls => DirectoryOf("net_cls") is not null,
        Controller.NetPrio => DirectoryOf("net_prio") is not null,
        _ => DirectoryOf(ResourceRouter.Name(c, false)) is not null,
    };

    private string Dir(string controller) => DirectoryOf(controller)!;

    void IResourceWriter.SetMemory(LinuxMemory m)
    {
        const string F = "linux.resources.memory";
        string dir = Dir("memory");
        long limit = m.Limit ?? 0, swap = m.Swap ?? 0;
        bool hasMemsw = CgroupFile.Exists(dir + "/memory.memsw.limit_in_bytes");
        if (swap != 0 && !hasMemsw)
            throw new CgroupException($"{F}.swap: swap limit is not supported on this host (no {dir}/memory.memsw.limit_in_bytes; swap accounting is off)");
        // Unlimited memory with swap left unset means unlimited swap too (runc's reading).
        if (limit == -1 && swap == 0 && hasMemsw) swap = -1;

        // The kernel insists memsw >= limit at every moment, so when both change the order depends on direction.
        bool swapFirst = false;
        if (limit != 0 && swap != 0)
        {
            long current = CgroupFile.TryReadLong(dir + "/memory.limit_in_bytes") ?? 0;
            swapFirst = swap == -1 || (ulong)current < (ulong)swap;
        }
        if (swapFirst) CgroupFile.Write(dir, "memory.memsw.limit_in_bytes", swap, F + ".swap");
        if (limit != 0) CgroupFile.Write(dir, "memory.limit_in_bytes", limit, F + ".limit");
        if (!swapFirst && swap != 0) CgroupFile.Write(dir, "memory.memsw.limit_in_bytes", swap, F + ".swap");

        if (m.Reservation is long res && res != 0) CgroupFile.Write(dir, "memory.soft_limit_in_bytes", res, F + ".reservation");
        // memory.kmem.limit_in_bytes (m.Kernel) is deprecated and refused by modern kernels: ignored, as runc does.
        if (m.KernelTCP is long tcp && tcp != 0) CgroupFile.Write(dir, "memory.kmem.tcp.limit_in_bytes", tcp, F + ".kernelTCP");
        if (m.Swappiness is ulong sw)
        {
            if (sw > 100) throw new CgroupException($"{F}.swappiness: {sw} is out of range 0-100");
            CgroupFile.Write(dir, "memory.swappiness", sw, F + ".swappiness");
        }
        if (m.DisableOOMKiller == true) CgroupFile.Write(dir, "memory.oom_control", "1"u8, F + ".disableOOMKiller");
    }

    void IResourceWriter.SetCpu(LinuxCpu c)
    {
        const string F = "linux.resources.cpu";
        string dir = Dir("cpu");
        if (c.Shares is ulong shares && shares != 0) CgroupFile.Write(dir, "cpu.shares", shares, F + ".shares");

        // A smaller period can be refused (EINVAL) while the old quota would exceed the parent's bandwidth;
        // it then goes in again after the quota.
        bool periodPending = false;
        ulong period = c.Period ?? 0;
        long quota = c.Quota ?? 0;
        if (period != 0)
        {
            int errno = WriteNumber(dir + "/cpu.cfs_period_us", (long)period);
            if (errno == Libc.EINVAL && quota != 0) periodPending = true;
            else if (errno != 0) throw CgroupFile.WriteError(F + ".period", dir + "/cpu.cfs_period_us", errno);
        }
        if (quota != 0) CgroupFile.Write(dir, "cpu.cfs_quota_us", quota, F + ".quota");
        if (periodPending) CgroupFile.Write(dir, "cpu.cfs_period_us", period, F + ".period");
        if (c.Burst is ulong burst) CgroupFile.Write(dir, "cpu.cfs_burst_us", burst, F + ".burst");

        // The runtime is checked against the period, so the period goes first.
        if (c.RealtimePeriod is ulong rtp && rtp != 0) CgroupFile.Write(dir, "cpu.rt_period_us", rtp, F + ".realtimePeriod");
        if (c.RealtimeRuntime is long rtr && rtr != 0) CgroupFile.Write(dir, "cpu.rt_runtime_us", rtr, F + ".realtimeRuntime");
        if (c.Idle is long idle) CgroupFile.Write(dir, "cpu.idle", idle, F + ".idle");
    }

    void IResourceWriter.SetCpuset(LinuxCpu c)
    {
        string dir = Dir("cpuset");
        if (!string.IsNullOrEmpty(c.Cpus)) CgroupFile.Write(dir, "cpuset.cpus", c.Cpus, "linux.resources.cpu.cpus");
        if (!string.IsNullOrEmpty(c.Mems)) CgroupFile.Write(dir, "cpuset.mems", c.Mems, "linux.resources.cpu.mems");
    }

    void IResourceWriter.SetPids(LinuxPids p)
    {
        string dir = Dir("pids");
        if (p.Limit > 0) CgroupFile.Write(dir, "pids.max", p.Limit, "linux.resources.pids.limit");
        else CgroupFile.Write(dir, "pids.max", "max"u8, "linux.resources.pids.limit");
    }

    void IResourceWriter.SetBlockIo(LinuxBlockIo b)
    {
        const string F = "linux.resources.blockIO";
        string dir = Dir("blkio");
        // CFQ (gone since 5.0) had blkio.weight; BFQ offers blkio.bfq.weight; with neither there is no weight.
        string? weightFile = CgroupFile.Exists(dir + "/blkio.weight") ? "blkio.weight"
            : CgroupFile.Exists(dir + "/blkio.bfq.weight") ? "blkio.bfq.weight" : null;
        bool needWeight = b.Weight is not null || (b.WeightDevice?.Exists(d => d.Weight is not null) ?? false);
        if (needWeight && weightFile is null)
            throw new CgroupException($"{F}.weight: I/O weights are not supported on this host (no blkio.weight or blkio.bfq.weight in {dir}: the CFQ/BFQ I/O scheduler is not available)");
        if (b.Weight is ushort w) CgroupFile.Write(dir, weightFile!, w, F + ".weight");
        if (b.LeafWeight is ushort lw)
        {
            if (!CgroupFile.Exists(dir + "/blkio.leaf_weight"))
                throw new CgroupException($"{F}.leafWeight: not supported on this host (no {dir}/blkio.leaf_weight)");
            CgroupFile.Write(dir, "blkio.leaf_weight", lw, F + ".leafWeight");
        }
        if (b.WeightDevice is { } wds)
        {
            for (int i = 0; i < wds.Count; i++)
            {
                var d = wds[i];
                string key = ResourceRouter.DeviceKey(d.Major, d.Minor);
                if (d.Weight is ushort dw) CgroupFile.Write(dir, weightFile + "_device", $"{key} {dw}", $"{F}.weightDevice[{i}].weight");
                if (d.LeafWeight is ushort dlw) CgroupFile.Write(dir, "blkio.leaf_weight_device", $"{key} {dlw}", $"{F}.weightDevice[{i}].leafWeight");
            }
        }
        Throttle(dir, "blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice, F + ".throttleReadBpsDevice");
        Throttle(dir, "blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice, F + ".throttleWriteBpsDevice");
        Throttle(dir, "blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice, F + ".throttleReadIOPSDevice");
        Throttle(dir, "blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice, F + ".throttleWriteIOPSDevice");
    }

    private static void Throttle(string dir, string file, List<LinuxThrottleDevice>? devices, string field)
    {
        if (devices is null) return;
        for (int i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            CgroupFile.Write(dir, file, $"{ResourceRouter.DeviceKey(d.Major, d.Minor)} {d.Rate}", $"{field}[{i}]");
        }
    }

    void IResourceWriter.SetHugepages(List<LinuxHugepageLimit> limits)
    {
        string dir = Dir("hugetlb");
        for (int i = 0; i < limits.Count; i++)
        {
            string size = ResourceRouter.CheckPageSize(limits[i].PageSize, i);
            string file = "hugetlb." + size + ".limit_in_bytes";
            if (!CgroupFile.Exists(dir + "/" + file))
                throw new CgroupException($"linux.resources.hugepageLimits[{i}].pageSize: hugepage size {size} is not supported on this host (no {dir}/{file})");
            CgroupFile.Write(dir, file, limits[i].Limit, $"linux.resources.hugepageLimits[{i}].limit");
        }
    }

    void IResourceWriter.SetNetwork(LinuxNetwork n)
    {
        if (n.ClassID is uint id) CgroupFile.Write(Dir("net_cls"), "net_cls.classid", id, "linux.resources.network.classID");
        if (n.Priorities is { } prios)
        {
            string dir = Dir("net_prio");
            for (int i = 0; i < prios.Count; i++)
                CgroupFile.Write(dir, "net_prio.ifpriomap", $"{prios[i].Name} {prios[i].Priority}", $"linux.resources.network.priorities[{i}]");
        }
    }

    void IResourceWriter.SetRdma(Dictionary<string, LinuxRdma> rdma) => RdmaWriter.Write(Dir("rdma"), rdma);

    void IResourceWriter.SetDevices(DeviceRule[] rules, DeviceRuleSet effective)
    {
        // Deny everything first, then replay the spec's rules in order: the kernel's own list semantics then
        // produce exactly what DeviceRuleSet computed (the router validated the rules already).
        // One fd per list file for all the writes: each write(2) is one entry.
        string dir = Dir("devices");
        using var allow = OpenControl(dir + "/devices.allow", "linux.resources.devices");
        using var deny = OpenControl(dir + "/devices.deny", "linux.resources.devices");
        // The spec's list usually starts with that same deny-all ("a *:* rwm"): once is enough.
        if (rules.Length == 0 || !rules[0].DeniesAll) WriteRule(deny, "a"u8, dir, allow: false, index: -1);
        Span<byte> line = stackalloc byte[DeviceRule.MaxLineLength];
        for (int i = 0; i < rules.Length; i++)
            WriteRule(rules[i].Allow ? allow : deny, line[..rules[i].Format(line)], dir, rules[i].Allow, i);
    }

    private static SafeFd OpenControl(string path, string field) =>
        SafeFd.TryOpen(path, Libc.O_WRONLY | Libc.O_CLOEXEC, out int errno) ?? throw CgroupFile.WriteError(field, path, errno);

    // One entry in one write(2). The file's path and the spec field (index -1: the list as a whole) are made
    // only for an error: this runs on the cgroup thread of every start.
    private static void WriteRule(SafeFd fd, ReadOnlySpan<byte> line, string dir, bool allow, int index)
    {
        int errno = CgroupFile.TryWrite(fd.Fd, line);
        if (errno != 0)
            throw CgroupFile.WriteError(index < 0 ? "linux.resources.devices" : $"linux.resources.devices[{index}]",
                dir + (allow ? "/devices.allow" : "/devices.deny"), errno);
    }

    void IResourceWriter.SetUnified(Dictionary<string, string> unified) =>
        throw new CgroupException("linux.resources.unified: cgroup v2 is not available on this host");

    private static int WriteNumber(string path, long value)
    {
        Span<byte> buf = stackalloc byte[24];
        value.TryFormat(buf, out int n, default, System.Globalization.CultureInfo.InvariantCulture);
        return CgroupFile.TryWrite(path, buf[..n]);
    }
}
