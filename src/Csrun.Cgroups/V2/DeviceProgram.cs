using Csrun.Linux;

namespace Csrun.Cgroups.V2;

/// <summary>Loads the device filter for a rule set and attaches it to a cgroup v2 directory, replacing the
/// program(s) attached there before (which, in a cgroup csrun manages, are csrun's own).</summary>
public static class DeviceProgram
{
    public static void Install(string cgroupDir, DeviceRuleSet rules)
    {
        const string F = "linux.resources.devices";
        ulong[] insns = DeviceFilter.Build(rules);
        using var dir = SafeFd.TryOpen(cgroupDir, Libc.O_DIRECTORY | Libc.O_RDONLY, out int errno)
            ?? throw new CgroupException($"{F}: open {cgroupDir}: {Errno.Describe(errno)}");
        try
        {
            uint[] old = Bpf.QueryAttached(dir.Fd, Bpf.BPF_CGROUP_DEVICE);
            using (var prog = Bpf.LoadCgroupDeviceProgram(insns, "csrun_devices"))
            {
                // ALLOW_MULTI so the new program can sit next to the old one for the moment between attach and
                // detach: the container never runs without a filter.
                Bpf.Attach(dir.Fd, prog.Fd, Bpf.BPF_CGROUP_DEVICE, Bpf.BPF_F_ALLOW_MULTI);
            }
            foreach (uint id in old)
            {
                using var oldProg = Bpf.GetProgramFdById(id);
                Bpf.Detach(dir.Fd, oldProg.Fd, Bpf.BPF_CGROUP_DEVICE);
            }
        }
        catch (ErrnoException e)
        {
            string log = e.Data["verifier log"] is string l ? "\n" + l : "";
            throw new CgroupException($"{F}: {e.Message} ({cgroupDir}){log}", e);
        }
    }

    /// <summary>Ids of the device programs attached directly to the cgroup.</summary>
    public static uint[] Attached(string cgroupDir)
    {
        using var dir = SafeFd.Open(cgroupDir, Libc.O_DIRECTORY | Libc.O_RDONLY);
        return Bpf.QueryAttached(dir.Fd, Bpf.BPF_CGROUP_DEVICE);
    }
}
