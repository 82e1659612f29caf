using Csrun.Cgroups;
using Csrun.Linux;

namespace Csrun.Engine;

/// <summary>What changes when csrun runs as a non-root user.</summary>
public static class Rootless
{
    public static bool IsRootless => Libc.GetEuid() != 0;

    /// <summary>runc's default state directory for rootless: $XDG_RUNTIME_DIR/csrun, else one per uid in /tmp.</summary>
    public static string DefaultRoot
    {
        get
        {
            if (!IsRootless) return "/run/csrun";
            string? xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            return string.IsNullOrEmpty(xdg) ? $"/tmp/csrun-{Libc.GetEuid()}" : Path.Combine(xdg, "csrun");
        }
    }

    /// <summary>The cgroup tree is not ours to write (no delegation): EACCES, EPERM or a read-only mount.</summary>
    public static bool CannotUseCgroups(CgroupException e) =>
        IsRootless && e.InnerException is ErrnoException { Errno: Libc.EACCES or Libc.EPERM or 30 /* EROFS */ };

    public static bool HasLimits(Oci.Spec spec)
    {
        var r = spec.Linux?.Resources;
        return r is not null && (r.Memory is not null || r.Cpu is not null || r.Pids is not null || r.BlockIO is not null
            || r.HugepageLimits is { Count: > 0 } || r.Network is not null || r.Rdma is { Count: > 0 } || r.Unified is { Count: > 0 });
    }
}
