using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine.Security;

/// <summary>Compiles linux.seccomp into a classic BPF program (the bytes of struct sock_filter[]) with libseccomp.</summary>
public static unsafe class SeccompCompiler
{
    public const uint FlagTsync = 1, FlagLog = 2, FlagSpecAllow = 4, FlagNewListener = 8;

    private static readonly Dictionary<string, int> Ops = new(StringComparer.Ordinal)
    {
        ["SCMP_CMP_NE"] = 1, ["SCMP_CMP_LT"] = 2, ["SCMP_CMP_LE"] = 3, ["SCMP_CMP_EQ"] = 4,
        ["SCMP_CMP_GE"] = 5, ["SCMP_CMP_GT"] = 6, ["SCMP_CMP_MASKED_EQ"] = 7,
    };

    public static IReadOnlyCollection<string> Operators => Ops.Keys;

    public static readonly string[] Actions =
    [
        "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP", "SCMP_ACT_NOTIFY",
    ];

    /// <summary>True when a rule hands syscalls to a user-space listener (linux.seccomp.listenerPath).</summary>
    public static bool UsesNotify(LinuxSeccomp s) =>
        s.DefaultAction == "SCMP_ACT_NOTIFY" || s.Syscalls?.Exists(r => r.Action == "SCMP_ACT_NOTIFY") == true;

    public static readonly string[] KnownFlags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"];

    /// <summary>Every field is checked here, so a bad profile fails before anything is created.</summary>
    public static void Validate(LinuxSeccomp s)
    {
        Action(s.DefaultAction, s.DefaultErrnoRet, "linux.seccomp.defaultAction");
        if (UsesNotify(s) && string.IsNullOrEmpty(s.ListenerPath))
            throw Bad("linux.seccomp.listenerPath", "must be set when an action is SCMP_ACT_NOTIFY");
        if (!string.IsNullOrEmpty(s.ListenerPath) && !s.ListenerPath.StartsWith('/'))
            throw Bad("linux.seccomp.listenerPath", $"\"{s.ListenerPath}\" must be an absolute path");
        for (int i = 0; i < (s.Flags?.Count ?? 0); i++)
        {
            if (Array.IndexOf(KnownFlags, s.Flags![i]) < 0) throw Bad($"linux.seccomp.flags[{i}]", $"unknown flag \"{s.Flags[i]}\"");
        }
        for (int i = 0; i < (s.Architectures?.Count ?? 0); i++)
        {
            if (Seccomp.ArchResolveName(ArchName(s.Architectures![i])) == 0)
                throw Bad($"linux.seccomp.architectures[{i}]", $"unknown architecture \"{s.Architectures[i]}\"");
        }
        for (int i = 0; i < (s.Syscalls?.Count ?? 0); i++)
        {
            var sc = s.Syscalls![i];
            Action(sc.Action, sc.ErrnoRet, $"linux.seccomp.syscalls[{i}].action");
            for (int j = 0; j < (sc.Args?.Count ?? 0); j++)
            {
                var a = sc.Args![j];
                if (!Ops.ContainsKey(a.Op)) throw Bad($"linux.seccomp.syscalls[{i}].args[{j}].op", $"unknown operator \"{a.Op}\"");
                if (a.Index > 5) throw Bad($"linux.seccomp.syscalls[{i}].args[{j}].index", "must be 0 to 5");
            }
            if ((sc.Args?.Count ?? 0) > 16) throw Bad($"linux.seccomp.syscalls[{i}].args", "at most 16 comparisons per rule");
        }
    }

    /// <summary>The BPF program and the seccomp(2) flags to install it with.</summary>
    public static (byte[] Program, uint Flags) Compile(LinuxSeccomp s)
    {
        Validate(s);
        uint defaultAction = Action(s.DefaultAction, s.DefaultErrnoRet, "linux.seccomp.defaultAction");
        nint ctx = Seccomp.Init(defaultAction);
        if (ctx == 0) throw new ContainerException("linux.seccomp: libseccomp could not create a filter");
        try
        {
            // csrun sets no_new_privs itself, as the spec says; the exported program must not assume it.
            Seccomp.AttrSet(ctx, Seccomp.AttrCtlNnp, 0);
            foreach (var arch in s.Architectures ?? [])
            {
                int rc = Seccomp.ArchAdd(ctx, Seccomp.ArchResolveName(ArchName(arch)));
                if (rc < 0 && rc != -Libc.EEXIST) throw new ContainerException($"linux.seccomp.architectures: cannot add {arch}: {Errno.Describe(-rc)}");
            }
            // Validate caps a rule at 16 comparisons.
            var args = stackalloc Seccomp.ArgCmp[16];
            for (int i = 0; i < (s.Syscalls?.Count ?? 0); i++)
            {
                var sc = s.Syscalls![i];
                uint action = Action(sc.Action, sc.ErrnoRet, $"linux.seccomp.syscalls[{i}].action");
                if (action == defaultAction) continue; // libseccomp refuses a rule that repeats the default
                int n = sc.Args?.Count ?? 0;
                for (int j = 0; j < n; j++)
                {
                    var a = sc.Args![j];
                    args[j] = new Seccomp.ArgCmp { Arg = a.Index, Op = Ops[a.Op], DatumA = a.Value, DatumB = a.ValueTwo };
                }
                foreach (var name in sc.Names)
                {
                    int nr = Seccomp.SyscallResolveName(name);
                    if (nr < 0)
                    {
                        // As runc: a syscall this libseccomp or architecture does not know is skipped.
                        Log.Debug($"seccomp: unknown syscall {name} skipped");
                        continue;
                    }
                    int rc = Seccomp.RuleAddArray(ctx, action, nr, (uint)n, args);
                    // EEXIST: the filter has this syscall and condition already (profiles such as podman's
                    // default list a syscall in several rules); the first rule stands.
                    if (rc == -Libc.EEXIST)
                    {
                        Log.Debug($"seccomp: rule {i} for {name} duplicates an earlier one; skipped");
                        continue;
                    }
                    if (rc < 0) throw new ContainerException($"linux.seccomp.syscalls[{i}]: rule for {name}: {Errno.Describe(-rc)}");
                }
            }
            int fd = Seccomp.MemfdCreate("csrun-seccomp", 1 /* MFD_CLOEXEC */);
            if (fd < 0) throw new ErrnoException("memfd_create", Errno.Last);
            using var memfd = new SafeFd(fd);
            int erc = Seccomp.ExportBpf(ctx, fd);
            if (erc < 0) throw new ContainerException($"linux.seccomp: export of the filter failed: {Errno.Describe(-erc)}");
            long size = Seccomp.Lseek(fd, 0, 1 /* SEEK_CUR */);
            Seccomp.Lseek(fd, 0, 0);
            var program = new byte[size];
            fixed (byte* p = program)
            {
                long got = 0;
                while (got < size)
                {
                    nint r = Libc.Read(fd, p + got, (nint)(size - got));
                    if (r <= 0) throw new ErrnoException("read exported seccomp filter", Errno.Last);
                    got += r;
                }
            }
            uint flags = 0;
            foreach (var f in s.Flags ?? [])
            {
                flags |= f switch { "SECCOMP_FILTER_FLAG_TSYNC" => FlagTsync, "SECCOMP_FILTER_FLAG_LOG" => FlagLog, _ => FlagSpecAllow };
            }
            if (UsesNotify(s)) flags |= FlagNewListener;
            return (program, flags);
        }
        finally
        {
            Seccomp.Release(ctx);
        }
    }

    private static uint Action(string action, uint? errnoRet, string field) => action switch
    {
        "SCMP_ACT_ALLOW" => Seccomp.ActAllow,
        "SCMP_ACT_ERRNO" => Seccomp.ActErrnoBase | ((errnoRet ?? 1) & 0xffff),
        "SCMP_ACT_KILL" or "SCMP_ACT_KILL_THREAD" => Seccomp.ActKillThread,
        "SCMP_ACT_KILL_PROCESS" => Seccomp.ActKillProcess,
        "SCMP_ACT_LOG" => Seccomp.ActLog,
        "SCMP_ACT_TRACE" => Seccomp.ActTraceBase | ((errnoRet ?? 1) & 0xffff),
        "SCMP_ACT_TRAP" => Seccomp.ActTrap,
        "SCMP_ACT_NOTIFY" => Seccomp.ActNotify,
        _ => throw Bad(field, $"unknown action \"{action}\""),
    };

    // OCI says SCMP_ARCH_X86_64; libseccomp's resolver wants x86_64.
    private static string ArchName(string oci) =>
        (oci.StartsWith("SCMP_ARCH_", StringComparison.Ordinal) ? oci[10..] : oci).ToLowerInvariant();

    private static ContainerException Bad(string field, string message) => new($"config.json: {field}: {message}");
}
