using System.Runtime.InteropServices;
using System.Text;
using Csrun.Cgroups;
using Csrun.Engine.Native;
using Csrun.Engine.Specs;
using Csrun.Engine.State;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine;

public sealed record CreateOptions(
    string Id,
    string Bundle,
    string? PidFile = null,
    string? ConsoleSocket = null,
    bool NoPivot = false,
    bool NoNewKeyring = false,
    int PreserveFds = 0);

/// <summary>
/// A per-container monitor to create the container under (csrund's csrun-monitor): a fork of the caller
/// becomes the init's parent and then execs <paramref name="Argv"/> with "--pid PID" appended, keeping only
/// <paramref name="KeepFds"/>. The init's stdio are <paramref name="Stdio"/>; with a terminal it sends its pty
/// master over <paramref name="ConsoleFd"/> (a socket whose other end the monitor keeps).
/// </summary>
public sealed record MonitorLaunch(IReadOnlyList<string> Argv, IReadOnlyList<int> KeepFds, StdioFds Stdio, int ConsoleFd = -1);

/// <summary>
/// The container lifecycle (create, start, run, state, kill, delete, list) over one --root directory.
/// Commands are thin: each opens the container's locked directory, acts, and records the result.
/// </summary>
public sealed partial class ContainerRuntime(string root, bool systemdCgroup = false)
{
    private readonly StateStore _store = new(root);

    public StateStore Store => _store;

    /// <summary>The container's cgroup; null for a rootless container that runs without one.</summary>
    private static ICgroupManager? CgroupOf(ContainerRecord r) =>
        string.IsNullOrEmpty(r.CgroupPath) ? null : CgroupManager.Create(CgroupLayout.Host, r.CgroupPath);

    private static ContainerException Fail(in CsrError err) => new(HookRunner.Describe(err));

    /// <summary>Lets the child run one setup phase. On failure the helper has killed and reaped it already,
    /// so the caller's later abort is a no-op.</summary>
    private static unsafe void Resume(CsrChild* child, int phase, byte[] json)
    {
        CsrError err;
        fixed (byte* p = json)
        {
            if (NativeMethods.Resume(child, phase, p, (nuint)json.Length, &err) != 0) throw Fail(err);
        }
    }

    private static ICgroupManager RequireCgroup(ContainerRecord r) =>
        CgroupOf(r) ?? throw new ContainerException($"container {r.Id} has no cgroup (a rootless container without a delegated cgroup)");
}

/// <summary>`run` in the foreground passes the signals it receives on to the container's init, as runc does.</summary>
internal sealed class SignalForwarder : IDisposable
{
    private static readonly int[] Forwarded = [1, 2, 3, 10, 12, 15, 28, 18]; // HUP INT QUIT USR1 USR2 TERM WINCH CONT
    private readonly List<PosixSignalRegistration> _regs = [];

    /// <param name="withWinch">False with a terminal: the pty itself tells its foreground process about size changes.</param>
    public static SignalForwarder Forward(int pid, bool withWinch = true)
    {
        var f = new SignalForwarder();
        foreach (int sig in Forwarded)
        {
            if (sig == 28 && !withWinch) continue;
            f._regs.Add(PosixSignalRegistration.Create((PosixSignal)sig, ctx =>
            {
                ctx.Cancel = true;
                Libc.Kill(pid, sig);
            }));
        }
        return f;
    }

    public void Dispose()
    {
        foreach (var r in _regs) r.Dispose();
    }
}
