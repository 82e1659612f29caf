using Csrun.Oci;

namespace Csrun.Cgroups;

/// <summary>
/// One container's cgroup across every hierarchy the host has (v1 controllers, the v2 unified tree, or both).
/// Path is the cgroup path relative to each hierarchy's root, e.g. "/csrun/abc".
/// Dispose closes the fds the manager holds (e.g. <see cref="CloneIntoCgroupFd"/>); it removes nothing.
/// </summary>
public interface ICgroupManager : IDisposable
{
    string Path { get; }

    /// <summary>Creates the cgroup directories (and parents) in every hierarchy. Idempotent.</summary>
    void Create();

    /// <summary>For cgroup v2: an O_PATH|O_DIRECTORY fd of the unified cgroup for clone3(CLONE_INTO_CGROUP);
    /// -1 when the process must be placed with <see cref="Apply"/> instead (or as well, on hybrid hosts).</summary>
    int CloneIntoCgroupFd { get; }

    /// <summary>Moves pid into the cgroup in every hierarchy (v1 controllers whose cgroup.procs must be written).</summary>
    void Apply(int pid);

    /// <summary>Writes the resource limits. Throws CgroupException naming the spec field when a value is refused
    /// or its controller is absent.</summary>
    void Set(LinuxResources resources);

    void Freeze();
    void Thaw();
    bool IsFrozen();

    /// <summary>Pids in the cgroup (and its descendants), from cgroup.procs.</summary>
    IReadOnlyList<int> GetPids();

    /// <summary>Removes every directory this manager created; retries while the kernel still reports it busy.</summary>
    void Destroy();

    /// <summary>Current usage counters (for `events --stats`); fields a host cannot report stay null.</summary>
    CgroupStats GetStats();
}

public sealed class CgroupException(string message, Exception? inner = null) : Exception(message, inner);
