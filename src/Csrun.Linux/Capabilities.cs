namespace Csrun.Linux;

/// <summary>Linux capability names (as OCI specs write them) and numbers.</summary>
public static class Capabilities
{
    public static readonly string[] Names =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>Every capability this kernel knows, by name.</summary>
    public static string[] AllNames() => Names[..Math.Min(Names.Length, LastCap + 1)];

    /// <summary>The capabilities in this process's bounding set (CapBnd): all a child can be given. A privileged
    /// container gets these, as under containerd, since no process can raise one its bounding set lacks (this
    /// VM's lacks CAP_SYS_RESOURCE).</summary>
    public static string[] BoundingNames()
    {
        ulong mask = ulong.MaxValue;
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("CapBnd:", StringComparison.Ordinal))
                mask = Convert.ToUInt64(line[7..].Trim(), 16);
        return AllNames().Where((_, i) => (mask & (1UL << i)) != 0).ToArray();
    }

    /// <summary>Capability number, or -1 for a name this table does not know.</summary>
    public static int Parse(string name) => Array.IndexOf(Names, name);

    private static int s_lastCap = -1;

    /// <summary>The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap).</summary>
    public static int LastCap
    {
        get
        {
            if (s_lastCap < 0)
            {
                s_lastCap = int.TryParse(File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim(), out int n) ? n : Names.Length - 1;
            }
            return s_lastCap;
        }
    }

    /// <summary>Bit mask of the named capabilities the kernel supports; names beyond cap_last_cap are skipped
    /// (as runc does), unknown names are the caller's to reject first.</summary>
    public static ulong Mask(IReadOnlyList<string>? names)
    {
        ulong mask = 0;
        if (names is null) return 0;
        foreach (var n in names)
        {
            int c = Parse(n);
            if (c >= 0 && c <= LastCap) mask |= 1UL << c;
        }
        return mask;
    }
}
