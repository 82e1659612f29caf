using System.Text;
using Csrun.Cri.V1;
using Csrun.Engine.Specs;
using Csrun.Oci;

namespace Csrun.Cri.Containers;

/// <summary>
/// The seccomp filter of a CRI container: RuntimeDefault, Unconfined or a Localhost profile file (OCI or docker
/// JSON), from the security context's seccomp field or the older seccomp_profile_path string.
/// </summary>
public static class SeccompProfiles
{
    // Calls no container needs and docker's default profile refuses: kernel modules, kexec, clock and swap
    // control, accounting, keyrings, bpf, perf, userfaultfd, handle-based open (the "shocker" escape), reboot,
    // namespace and mount changes (without CAP_SYS_ADMIN they fail anyway; with it the profile still stops them).
    private static readonly string[] Refused =
    [
        "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module", "finit_module",
        "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl",
        "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount", "mount_setattr", "move_mount",
        "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open", "personality",
        "pivot_root", "process_vm_readv", "process_vm_writev", "ptrace", "query_module", "quotactl", "reboot",
        "request_key", "set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon", "sysfs", "syslog",
        "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
    ];

    /// <summary>csrund's RuntimeDefault: everything allowed except <see cref="Refused"/>, which fail with EPERM.</summary>
    public static LinuxSeccomp RuntimeDefault() => new()
    {
        DefaultAction = "SCMP_ACT_ALLOW",
        Syscalls = [new LinuxSyscall { Names = [.. Refused], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1 }],
    };

    public static LinuxSeccomp? For(LinuxContainerSecurityContext sc, string seccompRoot)
    {
        const string field = "linux.security_context.seccomp";
        if (sc.Seccomp is { } profile)
        {
            return profile.ProfileType switch
            {
                SecurityProfile.Types.ProfileType.RuntimeDefault => RuntimeDefault(),
                SecurityProfile.Types.ProfileType.Unconfined => null,
                _ => Load(profile.LocalhostRef, seccompRoot, field + ".localhost_ref"),
            };
        }
#pragma warning disable CS0612 // the field older kubelets send
        string path = sc.SeccompProfilePath;
#pragma warning restore CS0612
        if (path is "" or "unconfined") return null;
        if (path is "runtime/default" or "docker/default") return RuntimeDefault();
        if (path.StartsWith("localhost/", StringComparison.Ordinal))
            return Load(path["localhost/".Length..], seccompRoot, "linux.security_context.seccomp_profile_path");
        throw CriErrors.InvalidArgument("linux.security_context.seccomp_profile_path", $"\"{path}\": want runtime/default, unconfined or localhost/<path>");
    }

    /// <summary>A profile file; a relative name is looked up under the kubelet's seccomp root.</summary>
    private static LinuxSeccomp Load(string name, string seccompRoot, string field)
    {
        if (string.IsNullOrEmpty(name)) throw CriErrors.InvalidArgument(field, "a Localhost profile needs a file");
        string path = Path.IsPathRooted(name) ? name : Path.Combine(seccompRoot, name);
        byte[] json;
        try { json = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CriErrors.InvalidArgument(field, $"seccomp profile {path}: {e.Message}");
        }
        // Read through the spec model: the same parser and field names as linux.seccomp of a config.json.
        var wrapped = Encoding.UTF8.GetBytes("{\"ociVersion\":\"1.0.2\",\"linux\":{\"seccomp\":").Concat(json).Concat("}}"u8.ToArray()).ToArray();
        try
        {
            return SpecLoader.Parse(wrapped, path).Linux?.Seccomp ?? throw CriErrors.InvalidArgument(field, $"seccomp profile {path} is empty");
        }
        catch (Engine.ContainerException e)
        {
            throw CriErrors.InvalidArgument(field, $"seccomp profile {path}: {e.Message}");
        }
    }
}
