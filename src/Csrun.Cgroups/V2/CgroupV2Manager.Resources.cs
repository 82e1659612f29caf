using System.Globalization;
using Csrun.Oci;

namespace Csrun.Cgroups.V2;

// linux.resources → cgroup v2 control files, with runc's conversions from the v1-shaped spec values.
public sealed partial class CgroupV2Manager
{
    bool IResourceWriter.Has(Controller c) => c switch
    {
        // Device control on v2 is an eBPF program, not a controller; net_cls/net_prio have no v2 form.
        Controller.Devices => true,
        Controller.NetCls or Controller.NetPrio => false,
        _ => HasController(ResourceRouter.Name(c, true)),
    };

    /// <summary>cpu.shares (2..262144) → cpu.weight (1..10000), runc's linear mapping.</summary>
    public static ulong SharesToWeight(ulong shares) =>
        shares == 0 ? 0 : shares <= 2 ? 1 : shares >= 262144 ? 10000 : 1 + (shares - 2) * 9999 / 262142;

    /// <summary>blkio.weight (10..1000) → io.weight (1..10000), runc's linear mapping.</summary>
    public static ulong BlkioWeightToIoWeight(ulong weight) =>
        weight == 0 ? 0 : weight <= 10 ? 1 : 1 + (weight - 10) * 9999 / 990;

    /// <summary>The spec's swap is memory+swap (v1 memsw); memory.swap.max is swap alone. 0 = leave unset,
    /// -1 = unlimited.</summary>
    public static long SwapToV2(long swap, long limit)
    {
        if (limit == -1 && swap == 0) return -1;
        if (swap is -1 or 0) return swap;
        if (limit is 0 or -1) throw new CgroupException("linux.resources.memory.swap: a swap limit needs a memory limit");
        if (swap < limit) throw new CgroupException("linux.resources.memory.swap: memory+swap limit must be >= memory limit");
        return swap - limit;
    }

    private void WriteLimit(string file, long value, string field)
    {
        if (value == -1) CgroupFile.Write(Directory, file, "max"u8, field);
        else CgroupFile.Write(Directory, file, value, field);
    }

    void IResourceWriter.SetMemory(LinuxMemory m)
    {
        const string F = "linux.resources.memory";
        long limit = m.Limit ?? 0;
        long swap = SwapToV2(m.Swap ?? 0, limit);
        if (swap != 0)
        {
            if (!CgroupFile.Exists(Directory + "/memory.swap.max"))
            {
                // Unlimited swap on a host without swap accounting asks for nothing that could be enforced.
                if (swap != -1) throw new CgroupException($"{F}.swap: swap limit is not supported on this host (no {Directory}/memory.swap.max)");
            }
            else
            {
                // Swap first: lowering memory.max under current usage may need the swap room already granted.
                WriteLimit("memory.swap.max", swap, F + ".swap");
            }
        }
        if (limit != 0) WriteLimit("memory.max", limit, F + ".limit");
        if (m.Reservation is long res && res != 0) WriteLimit("memory.low", res, F + ".reservation");
        // kernel, kernelTCP, swappiness and disableOOMKiller have no cgroup v2 file; runc ignores them too.
    }

    void IResourceWriter.SetCpu(LinuxCpu c)
    {
        const string F = "linux.resources.cpu";
        if (c.Shares is ulong shares && shares != 0) CgroupFile.Write(Directory, "cpu.weight", SharesToWeight(shares), F + ".shares");
        long quota = c.Quota ?? 0;
        ulong period = c.Period ?? 0;
        if (quota != 0 || period != 0)
        {
            // "quota period"; a missing period keeps the current one, a negative quota means unlimited.
            string value = quota > 0 ? quota.ToString(CultureInfo.InvariantCulture) : "max";
            if (period != 0) value += " " + period.ToString(CultureInfo.InvariantCulture);
            CgroupFile.Write(Directory, "cpu.max", value, quota != 0 ? F + ".quota" : F + ".period");
        }
        if (c.Burst is ulong burst) CgroupFile.Write(Directory, "cpu.max.burst", burst, F + ".burst");
        if (c.RealtimeRuntime is long rtr && rtr != 0 || c.RealtimePeriod is ulong rtp && rtp != 0)
            throw new CgroupException($"{F}.realtimeRuntime: realtime scheduling limits are not supported on cgroup v2");
        if (c.Idle is long idle) CgroupFile.Write(Directory, "cpu.idle", idle, F + ".idle");
    }

    void IResourceWriter.SetCpuset(LinuxCpu c)
    {
        if (!string.IsNullOrEmpty(c.Cpus)) CgroupFile.Write(Directory, "cpuset.cpus", c.Cpus, "linux.resources.cpu.cpus");
        if (!string.IsNullOrEmpty(c.Mems)) CgroupFile.Write(Directory, "cpuset.mems", c.Mems, "linux.resources.cpu.mems");
    }

    void IResourceWriter.SetPids(LinuxPids p) => WriteLimit("pids.max", p.Limit > 0 ? p.Limit : -1, "linux.resources.pids.limit");

    void IResourceWriter.SetBlockIo(LinuxBlockIo b)
    {
        const string F = "linux.resources.blockIO";
        // BFQ takes the v1 weight scale as is (and per-device weights); otherwise io.weight with conversion.
        bool bfq = CgroupFile.Exists(Directory + "/io.bfq.weight");
        if (b.Weight is ushort w)
        {
            if (bfq) CgroupFile.Write(Directory, "io.bfq.weight", w, F + ".weight");
            else if (CgroupFile.Exists(Directory + "/io.weight")) CgroupFile.Write(Directory, "io.weight", BlkioWeightToIoWeight(w), F + ".weight");
            else throw new CgroupException($"{F}.weight: I/O weights are not supported on this host (no io.bfq.weight or io.weight in {Directory})");
        }
        if (b.LeafWeight is not null) throw new CgroupException($"{F}.leafWeight: not supported on cgroup v2");
        if (b.WeightDevice is { } wds)
        {
            for (int i = 0; i < wds.Count; i++)
            {
                var d = wds[i];
                if (d.LeafWeight is not null) throw new CgroupException($"{F}.weightDevice[{i}].leafWeight: not supported on cgroup v2");
                if (d.Weight is not ushort dw) continue;
                if (!bfq) throw new CgroupException($"{F}.weightDevice[{i}]: per-device weights need the BFQ I/O scheduler (no {Directory}/io.bfq.weight)");
                CgroupFile.Write(Directory, "io.bfq.weight", $"{ResourceRouter.DeviceKey(d.Major, d.Minor)} {dw}", $"{F}.weightDevice[{i}].weight");
            }
        }
        IoMax(b.ThrottleReadBpsDevice, "rbps", F + ".throttleReadBpsDevice");
        IoMax(b.ThrottleWriteBpsDevice, "wbps", F + ".throttleWriteBpsDevice");
        IoMax(b.ThrottleReadIOPSDevice, "riops", F + ".throttleReadIOPSDevice");
        IoMax(b.ThrottleWriteIOPSDevice, "wiops", F + ".throttleWriteIOPSDevice");
    }

    private void IoMax(List<LinuxThrottleDevice>? devices, string key, string field)
    {
        if (devices is null) return;
        for (int i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            // v1 uses 0 for "no limit"; io.max spells it "max".
            string rate = d.Rate == 0 ? "max" : d.Rate.ToString(CultureInfo.InvariantCulture);
            CgroupFile.Write(Directory, "io.max", $"{ResourceRouter.DeviceKey(d.Major, d.Minor)} {key}={rate}", $"{field}[{i}]");
        }
    }

    void IResourceWriter.SetHugepages(List<LinuxHugepageLimit> limits)
    {
        for (int i = 0; i < limits.Count; i++)
        {
            string size = ResourceRouter.CheckPageSize(limits[i].PageSize, i);
            string file = "hugetlb." + size + ".max";
            if (!CgroupFile.Exists(Directory + "/" + file))
                throw new CgroupException($"linux.resources.hugepageLimits[{i}].pageSize: hugepage size {size} is not supported on this host (no {Directory}/{file})");
            CgroupFile.Write(Directory, file, limits[i].Limit, $"linux.resources.hugepageLimits[{i}].limit");
            // Reservations count too (5.7+): limit them alike so mmap-time reservations cannot bypass the limit.
            string rsvd = "hugetlb." + size + ".rsvd.max";
            if (CgroupFile.Exists(Directory + "/" + rsvd)) CgroupFile.Write(Directory, rsvd, limits[i].Limit, $"linux.resources.hugepageLimits[{i}].limit");
        }
    }

    void IResourceWriter.SetNetwork(LinuxNetwork network) =>
        throw new CgroupException("linux.resources.network: net_cls/net_prio do not exist on cgroup v2");

    void IResourceWriter.SetRdma(Dictionary<string, LinuxRdma> rdma) => RdmaWriter.Write(Directory, rdma);

    void IResourceWriter.SetDevices(DeviceRule[] rules, DeviceRuleSet effective) => DeviceProgram.Install(Directory, effective);

    void IResourceWriter.SetUnified(Dictionary<string, string> unified)
    {
        foreach (var (key, value) in unified)
        {
            string field = $"linux.resources.unified[{key}]";
            // Keys are file names in this cgroup: nothing that could step into another directory.
            if (key.Length == 0 || key.Contains('/') || key.StartsWith('.'))
                throw new CgroupException($"{field}: invalid cgroup file name");
            if (!CgroupFile.Exists(Directory + "/" + key))
            {
                int dot = key.IndexOf('.');
                string controller = dot > 0 ? key[..dot] : key;
                throw new CgroupException($"{field}: no such file {Directory}/{key}" +
                    (controller != "cgroup" && !HasController(controller) ? $" (the {controller} controller is not available in this cgroup)" : ""));
            }
            CgroupFile.Write(Directory, key, value, field);
        }
    }
}
