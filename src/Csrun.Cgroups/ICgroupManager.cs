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

    /// <summary>Creates only what the clone itself needs: the unified cgroup behind <see cref="CloneIntoCgroupFd"/>.
    /// The v1 directories can then be made (<see cref="Create"/>) while the child is cloned, which joins them
    /// later by <see cref="SelfJoinPaths"/>. A no-op on a v1-only host.</summary>
    void CreateForClone();

    /// <summary>For cgroup v2: an O_PATH|O_DIRECTORY fd of the unified cgroup for clone3(CLONE_INTO_CGROUP);
    /// -1 when the process must be placed with <see cref="Apply"/> instead (or as well, on hybrid hosts).</summary>
    int CloneIntoCgroupFd { get; }

    /// <summary>cgroup v1: this cgroup's `tasks` file in every hierarchy, opened O_WRONLY|O_CLOEXEC on first use
    /// (closed by Dispose). A freshly cloned, single-threaded child writes "0" to each to move itself: a thread
    /// moving itself skips the kernel's global threadgroup rwsem, whose write side waits for an RCU grace
    /// period (5–15 ms on this kind of host) when it has been idle; writing a pid to cgroup.procs takes it.
    /// Empty on a v2-only host.</summary>
    IReadOnlyList<CgroupJoinFile> SelfJoinFiles { get; }

    /// <summary>The paths of <see cref="SelfJoinFiles"/>, without opening anything (the directories may not exist yet).</summary>
    IReadOnlyList<string> SelfJoinPaths { get; }

    /// <summary>Moves pid into the cgroup in every hierarchy it is not in yet: <paramref name="joined"/> says
    /// which placements were done already (the child wrote <see cref="SelfJoinFiles"/>, clone3 used
    /// <see cref="CloneIntoCgroupFd"/>).</summary>
    void Apply(int pid, CgroupJoined joined = CgroupJoined.None);

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

/// <summary>Placements already done for a new process, see <see cref="ICgroupManager.Apply"/>.</summary>
[Flags]
public enum CgroupJoined
{
    None = 0,
    /// <summary>In every v1 hierarchy (through <see cref="ICgroupManager.SelfJoinFiles"/>).</summary>
    V1 = 1,
    /// <summary>In the unified hierarchy (clone3 CLONE_INTO_CGROUP).</summary>
    V2 = 2,
}

/// <summary>An open `tasks` file of a v1 cgroup; Path is for error messages.</summary>
public readonly record struct CgroupJoinFile(int Fd, string Path);

public sealed class CgroupException(string message, Exception? inner = null) : Exception(message, inner);
