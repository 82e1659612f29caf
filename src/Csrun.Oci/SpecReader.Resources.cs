using System.Text.Json;

namespace Csrun.Oci;

// linux.resources and everything under it (same conventions as SpecReader.Objects.cs).
public static partial class SpecReader
{
    private static LinuxResources ReadResources(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxResources();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "devices"u8, "devices")) x.Devices = List(ref r, ref p, ReadDeviceCgroup, "an array of device rules");
            else if (Prop(ref r, ref p, "memory"u8, "memory")) x.Memory = ReadMemory(ref r, ref p);
            else if (Prop(ref r, ref p, "cpu"u8, "cpu")) x.Cpu = ReadCpu(ref r, ref p);
            else if (Prop(ref r, ref p, "pids"u8, "pids")) x.Pids = ReadPids(ref r, ref p);
            else if (Prop(ref r, ref p, "blockIO"u8, "blockIO")) x.BlockIO = ReadBlockIo(ref r, ref p);
            else if (Prop(ref r, ref p, "hugepageLimits"u8, "hugepageLimits")) x.HugepageLimits = List(ref r, ref p, ReadHugepageLimit, "an array of hugepage limits");
            else if (Prop(ref r, ref p, "network"u8, "network")) x.Network = ReadNetwork(ref r, ref p);
            else if (Prop(ref r, ref p, "rdma"u8, "rdma")) x.Rdma = Dict(ref r, ref p, ReadRdma);
            else if (Prop(ref r, ref p, "unified"u8, "unified")) x.Unified = StrDict(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxDeviceCgroup ReadDeviceCgroup(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxDeviceCgroup();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "allow"u8, "allow")) x.Allow = Bool(ref r, ref p);
            else if (Prop(ref r, ref p, "type"u8, "type")) x.Type = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "major"u8, "major")) x.Major = NI64(ref r, ref p);
            else if (Prop(ref r, ref p, "minor"u8, "minor")) x.Minor = NI64(ref r, ref p);
            else if (Prop(ref r, ref p, "access"u8, "access")) x.Access = Str(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxMemory ReadMemory(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxMemory();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "limit"u8, "limit")) x.Limit = NI64(ref r, ref p);
            else if (Prop(ref r, ref p, "reservation"u8, "reservation")) x.Reservation = NI64(ref r, ref p);
            else if (Prop(ref r, ref p, "swap"u8, "swap")) x.Swap = NI64(ref r, ref p);
            else if (Prop(ref r, ref p, "kernel"u8, "kernel")) x.Kernel = NI64(ref r, ref p);
            else if (Prop(ref r, ref p, "kernelTCP"u8, "kernelTCP")) x.KernelTCP = NI64(ref r, ref p);
            else if (Prop(ref r, ref p, "swappiness"u8, "swappiness")) x.Swappiness = NU64(ref r, ref p);
            else if (Prop(ref r, ref p, "disableOOMKiller"u8, "disableOOMKiller")) x.DisableOOMKiller = NBool(ref r, ref p);
            else if (Prop(ref r, ref p, "useHierarchy"u8, "useHierarchy")) x.UseHierarchy = NBool(ref r, ref p);
            else if (Prop(ref r, ref p, "checkBeforeUpdate"u8, "checkBeforeUpdate")) x.CheckBeforeUpdate = NBool(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxCpu ReadCpu(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxCpu();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "shares"u8, "shares")) x.Shares = NU64(ref r, ref p);
            else if (Prop(ref r, ref p, "quota"u8, "quota")) x.Quota = NI64(ref r, ref p);
            else if (Prop(ref r, ref p, "burst"u8, "burst")) x.Burst = NU64(ref r, ref p);
            else if (Prop(ref r, ref p, "period"u8, "period")) x.Period = NU64(ref r, ref p);
            else if (Prop(ref r, ref p, "realtimeRuntime"u8, "realtimeRuntime")) x.RealtimeRuntime = NI64(ref r, ref p);
            else if (Prop(ref r, ref p, "realtimePeriod"u8, "realtimePeriod")) x.RealtimePeriod = NU64(ref r, ref p);
            else if (Prop(ref r, ref p, "cpus"u8, "cpus")) x.Cpus = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "mems"u8, "mems")) x.Mems = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "idle"u8, "idle")) x.Idle = NI64(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxPids ReadPids(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxPids();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "limit"u8, "limit")) x.Limit = I64(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxBlockIo ReadBlockIo(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxBlockIo();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "weight"u8, "weight")) x.Weight = NU16(ref r, ref p);
            else if (Prop(ref r, ref p, "leafWeight"u8, "leafWeight")) x.LeafWeight = NU16(ref r, ref p);
            else if (Prop(ref r, ref p, "weightDevice"u8, "weightDevice")) x.WeightDevice = List(ref r, ref p, ReadWeightDevice, "an array of weight devices");
            else if (Prop(ref r, ref p, "throttleReadBpsDevice"u8, "throttleReadBpsDevice")) x.ThrottleReadBpsDevice = ThrottleDevices(ref r, ref p);
            else if (Prop(ref r, ref p, "throttleWriteBpsDevice"u8, "throttleWriteBpsDevice")) x.ThrottleWriteBpsDevice = ThrottleDevices(ref r, ref p);
            else if (Prop(ref r, ref p, "throttleReadIOPSDevice"u8, "throttleReadIOPSDevice")) x.ThrottleReadIOPSDevice = ThrottleDevices(ref r, ref p);
            else if (Prop(ref r, ref p, "throttleWriteIOPSDevice"u8, "throttleWriteIOPSDevice")) x.ThrottleWriteIOPSDevice = ThrottleDevices(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxWeightDevice ReadWeightDevice(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxWeightDevice();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "major"u8, "major")) x.Major = I64(ref r, ref p);
            else if (Prop(ref r, ref p, "minor"u8, "minor")) x.Minor = I64(ref r, ref p);
            else if (Prop(ref r, ref p, "weight"u8, "weight")) x.Weight = NU16(ref r, ref p);
            else if (Prop(ref r, ref p, "leafWeight"u8, "leafWeight")) x.LeafWeight = NU16(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static List<LinuxThrottleDevice>? ThrottleDevices(ref Utf8JsonReader r, ref PathBuilder p) =>
        List(ref r, ref p, ReadThrottleDevice, "an array of throttle devices");

    private static LinuxThrottleDevice ReadThrottleDevice(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxThrottleDevice();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "major"u8, "major")) x.Major = I64(ref r, ref p);
            else if (Prop(ref r, ref p, "minor"u8, "minor")) x.Minor = I64(ref r, ref p);
            else if (Prop(ref r, ref p, "rate"u8, "rate")) x.Rate = U64(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxHugepageLimit ReadHugepageLimit(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxHugepageLimit();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "pageSize"u8, "pageSize")) x.PageSize = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "limit"u8, "limit")) x.Limit = U64(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxNetwork ReadNetwork(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxNetwork();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "classID"u8, "classID")) x.ClassID = NU32(ref r, ref p);
            else if (Prop(ref r, ref p, "priorities"u8, "priorities")) x.Priorities = List(ref r, ref p, ReadInterfacePriority, "an array of interface priorities");
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxInterfacePriority ReadInterfacePriority(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxInterfacePriority();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "name"u8, "name")) x.Name = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "priority"u8, "priority")) x.Priority = U32(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxRdma ReadRdma(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxRdma();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "hcaHandles"u8, "hcaHandles")) x.HcaHandles = NU32(ref r, ref p);
            else if (Prop(ref r, ref p, "hcaObjects"u8, "hcaObjects")) x.HcaObjects = NU32(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }
}
