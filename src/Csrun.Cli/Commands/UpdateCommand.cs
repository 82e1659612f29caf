using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Csrun.Engine;
using Csrun.Oci;

namespace Csrun.Cli.Commands;

/// <summary>runc's `update`: a resources JSON (--resources FILE, or - for stdin) and/or runc's flags.</summary>
internal static class UpdateCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var resources = new Option<string?>("--resources", "-r") { Description = "path to a linux.resources JSON file, - for stdin" };
        var blkioWeight = new Option<ushort?>("--blkio-weight");
        var cpuPeriod = new Option<ulong?>("--cpu-period");
        var cpuQuota = new Option<long?>("--cpu-quota");
        var cpuRtPeriod = new Option<ulong?>("--cpu-rt-period");
        var cpuRtRuntime = new Option<long?>("--cpu-rt-runtime");
        var cpuShare = new Option<ulong?>("--cpu-share");
        var cpusetCpus = new Option<string?>("--cpuset-cpus");
        var cpusetMems = new Option<string?>("--cpuset-mems");
        var memory = new Option<string?>("--memory") { Description = "limit, with a unit suffix (512m, 1g)" };
        var memoryReservation = new Option<string?>("--memory-reservation");
        var memorySwap = new Option<string?>("--memory-swap") { Description = "memory+swap limit, -1 for unlimited" };
        var pidsLimit = new Option<long?>("--pids-limit");
        var kernelMemory = new Option<string?>("--kernel-memory") { Hidden = true };
        var kernelMemoryTcp = new Option<string?>("--kernel-memory-tcp");
        var l3 = new Option<string?>("--l3-cache-schema");
        var memBw = new Option<string?>("--mem-bw-schema");
        var c = new Command("update", "update the resource limits of a container")
        {
            id, resources, blkioWeight, cpuPeriod, cpuQuota, cpuRtPeriod, cpuRtRuntime, cpuShare, cpusetCpus, cpusetMems,
            memory, memoryReservation, memorySwap, pidsLimit, kernelMemory, kernelMemoryTcp, l3, memBw,
        };
        c.SetAction(p => GlobalOptions.Execute(p, "update", rt =>
        {
            var r = new LinuxResources();
            if (p.GetValue(resources) is { } file)
            {
                using Stream s = file == "-" ? Console.OpenStandardInput() : File.OpenRead(file);
                try
                {
                    r = JsonSerializer.Deserialize(s, SpecJsonContext.Default.LinuxResources) ?? r;
                }
                catch (JsonException e)
                {
                    throw new ContainerException($"--resources: invalid JSON at {e.Path}: {e.Message}");
                }
            }
            if (p.GetValue(l3) is not null || p.GetValue(memBw) is not null)
                throw new ContainerException("--l3-cache-schema/--mem-bw-schema: Intel RDT is not available on this host");
            if (p.GetValue(blkioWeight) is { } w) (r.BlockIO ??= new()).Weight = w;
            var cpu = r.Cpu ?? new LinuxCpu();
            cpu.Period = p.GetValue(cpuPeriod) ?? cpu.Period;
            cpu.Quota = p.GetValue(cpuQuota) ?? cpu.Quota;
            cpu.RealtimePeriod = p.GetValue(cpuRtPeriod) ?? cpu.RealtimePeriod;
            cpu.RealtimeRuntime = p.GetValue(cpuRtRuntime) ?? cpu.RealtimeRuntime;
            cpu.Shares = p.GetValue(cpuShare) ?? cpu.Shares;
            cpu.Cpus = p.GetValue(cpusetCpus) ?? cpu.Cpus;
            cpu.Mems = p.GetValue(cpusetMems) ?? cpu.Mems;
            if (cpu.Period is not null || cpu.Quota is not null || cpu.RealtimePeriod is not null || cpu.RealtimeRuntime is not null
                || cpu.Shares is not null || cpu.Cpus is not null || cpu.Mems is not null) r.Cpu = cpu;
            var mem = r.Memory ?? new LinuxMemory();
            mem.Limit = Bytes(p.GetValue(memory), "--memory") ?? mem.Limit;
            mem.Reservation = Bytes(p.GetValue(memoryReservation), "--memory-reservation") ?? mem.Reservation;
            mem.Swap = Bytes(p.GetValue(memorySwap), "--memory-swap") ?? mem.Swap;
            mem.KernelTCP = Bytes(p.GetValue(kernelMemoryTcp), "--kernel-memory-tcp") ?? mem.KernelTCP;
            if (mem.Limit is not null || mem.Reservation is not null || mem.Swap is not null || mem.KernelTCP is not null) r.Memory = mem;
            if (p.GetValue(pidsLimit) is { } pl) r.Pids = new LinuxPids { Limit = pl };
            rt.Update(p.GetValue(id)!, r);
            return 0;
        }));
        return c;
    }

    /// <summary>docker's RAMInBytes: "512m", "1g", "1024", "1.5GiB"; "-1" means unlimited.</summary>
    internal static long? Bytes(string? text, string flag)
    {
        if (text is null) return null;
        string t = text.Trim();
        if (t == "-1") return -1;
        int i = 0;
        while (i < t.Length && (char.IsAsciiDigit(t[i]) || t[i] == '.')) i++;
        if (i == 0 || !double.TryParse(t[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n))
            throw new ContainerException($"{flag}: invalid size \"{text}\"");
        string unit = t[i..].Trim().ToLowerInvariant().Replace("ib", "").TrimEnd('b');
        long mult = unit switch
        {
            "" => 1, "k" => 1L << 10, "m" => 1L << 20, "g" => 1L << 30, "t" => 1L << 40, "p" => 1L << 50,
            _ => throw new ContainerException($"{flag}: invalid size \"{text}\""),
        };
        return (long)(n * mult);
    }
}
