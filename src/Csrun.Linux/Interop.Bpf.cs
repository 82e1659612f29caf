using System.Runtime.InteropServices;

namespace Csrun.Linux;

/// <summary>The bpf(2) commands csrun needs for the cgroup v2 device controller: load a
/// BPF_PROG_TYPE_CGROUP_DEVICE program, attach/detach it to a cgroup directory, list what is attached.
/// Attribute layouts follow union bpf_attr in include/uapi/linux/bpf.h; passing a shorter size than the
/// kernel's is allowed (the kernel zero-fills the rest).</summary>
public static unsafe class Bpf
{
    public const int BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8, BPF_PROG_DETACH = 9, BPF_PROG_GET_FD_BY_ID = 13,
        BPF_PROG_QUERY = 16;
    public const uint BPF_PROG_TYPE_CGROUP_DEVICE = 15;
    public const uint BPF_CGROUP_DEVICE = 6;
    public const uint BPF_F_ALLOW_OVERRIDE = 1, BPF_F_ALLOW_MULTI = 2;

    private static long SyscallNumber => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 321,
        Architecture.Arm64 => 280,
        Architecture.RiscV64 => 280,
        Architecture.LoongArch64 => 280,
        _ => throw new PlatformNotSupportedException("bpf(2): unknown syscall number for this architecture"),
    };

    [StructLayout(LayoutKind.Sequential)]
    private struct ProgLoadAttr
    {
        public uint ProgType;
        public uint InsnCnt;
        public ulong Insns;
        public ulong License;
        public uint LogLevel;
        public uint LogSize;
        public ulong LogBuf;
        public uint KernVersion;
        public uint ProgFlags;
        public fixed byte ProgName[16];
        public uint ProgIfindex;
        public uint ExpectedAttachType;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct AttachAttr
    {
        public uint TargetFd;
        public uint AttachBpfFd;
        public uint AttachType;
        public uint AttachFlags;
        public uint ReplaceBpfFd;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct QueryAttr
    {
        public uint TargetFd;
        public uint AttachType;
        public uint QueryFlags;
        public uint AttachFlags;
        public ulong ProgIds;
        public uint ProgCnt;
        public uint Pad;
    }

    private static long Call(int cmd, void* attr, int size) =>
        Libc.Syscall(SyscallNumber, cmd, (long)attr, size, 0, 0);

    /// <summary>Loads a cgroup device program. Returns its fd; on failure throws with the verifier log
    /// (when the kernel produced one) appended to the message.</summary>
    public static SafeFd LoadCgroupDeviceProgram(ReadOnlySpan<ulong> instructions, string name)
    {
        ReadOnlySpan<byte> license = "Apache\0"u8;
        fixed (ulong* insns = instructions)
        fixed (byte* lic = license)
        {
            var attr = new ProgLoadAttr
            {
                ProgType = BPF_PROG_TYPE_CGROUP_DEVICE,
                InsnCnt = (uint)instructions.Length,
                Insns = (ulong)insns,
                License = (ulong)lic,
                ExpectedAttachType = BPF_CGROUP_DEVICE,
            };
            int n = 0;
            foreach (char c in name)
            {
                if (n == 15) break;
                attr.ProgName[n++] = (byte)c;
            }
            long fd = Call(BPF_PROG_LOAD, &attr, sizeof(ProgLoadAttr));
            if (fd >= 0) return new SafeFd((int)fd);
            int errno = Errno.Last;

            // Load again only to fetch the verifier's explanation; the first attempt stays log-free for speed.
            byte[] log = new byte[64 * 1024];
            fixed (byte* logBuf = log)
            {
                attr.LogLevel = 1;
                attr.LogSize = (uint)log.Length;
                attr.LogBuf = (ulong)logBuf;
                fd = Call(BPF_PROG_LOAD, &attr, sizeof(ProgLoadAttr));
                if (fd >= 0) return new SafeFd((int)fd);
            }
            int len = Array.IndexOf(log, (byte)0);
            string text = System.Text.Encoding.UTF8.GetString(log, 0, len < 0 ? log.Length : len).Trim();
            var ex = new ErrnoException("bpf(BPF_PROG_LOAD)", errno);
            if (text.Length > 0) ex.Data["verifier log"] = text;
            throw ex;
        }
    }

    public static void Attach(int cgroupFd, int progFd, uint attachType, uint flags)
    {
        var attr = new AttachAttr { TargetFd = (uint)cgroupFd, AttachBpfFd = (uint)progFd, AttachType = attachType, AttachFlags = flags };
        Errno.Check(Call(BPF_PROG_ATTACH, &attr, sizeof(AttachAttr)), "bpf(BPF_PROG_ATTACH)");
    }

    public static void Detach(int cgroupFd, int progFd, uint attachType)
    {
        var attr = new AttachAttr { TargetFd = (uint)cgroupFd, AttachBpfFd = (uint)progFd, AttachType = attachType };
        Errno.Check(Call(BPF_PROG_DETACH, &attr, sizeof(AttachAttr)), "bpf(BPF_PROG_DETACH)");
    }

    /// <summary>Ids of the programs attached directly to the cgroup (not inherited ones).</summary>
    public static uint[] QueryAttached(int cgroupFd, uint attachType)
    {
        uint[] ids = new uint[64];
        while (true)
        {
            fixed (uint* p = ids)
            {
                var attr = new QueryAttr { TargetFd = (uint)cgroupFd, AttachType = attachType, ProgIds = (ulong)p, ProgCnt = (uint)ids.Length };
                long r = Call(BPF_PROG_QUERY, &attr, sizeof(QueryAttr));
                if (r < 0)
                {
                    int errno = Errno.Last;
                    // ENOSPC: more programs than room; the kernel reports the real count.
                    if (errno == 28 && attr.ProgCnt > ids.Length) { ids = new uint[attr.ProgCnt]; continue; }
                    throw new ErrnoException("bpf(BPF_PROG_QUERY)", errno);
                }
                return ids.AsSpan(0, (int)attr.ProgCnt).ToArray();
            }
        }
    }

    public static SafeFd GetProgramFdById(uint id)
    {
        uint* attr = stackalloc uint[3];
        attr[0] = id;
        attr[1] = 0;
        attr[2] = 0;
        long fd = Errno.Check(Call(BPF_PROG_GET_FD_BY_ID, attr, 12), "bpf(BPF_PROG_GET_FD_BY_ID)");
        return new SafeFd((int)fd);
    }
}
