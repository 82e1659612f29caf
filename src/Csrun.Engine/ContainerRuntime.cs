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

    internal static ContainerException Fail(in CsrError err) => new(HookRunner.Describe(err));

    /// <summary>Lets the child run one setup phase, doing <paramref name="meanwhile"/> on this side as it works.
    /// On failure the helper has killed and reaped it already, so the caller's later abort is a no-op; if
    /// <paramref name="meanwhile"/> throws, the child is still ours to abort.</summary>
    private static unsafe void Resume(CsrChild* child, int phase, byte[] json, Action? meanwhile = null)
    {
        CsrError err;
        fixed (byte* p = json)
        {
            if (NativeMethods.ResumeSend(child, phase, p, (nuint)json.Length, &err) != 0) throw Fail(err);
        }
        meanwhile?.Invoke();
        if (NativeMethods.ResumeWait(child, phase, &err) != 0) throw Fail(err);
    }

    private static ICgroupManager RequireCgroup(ContainerRecord r) =>
        CgroupOf(r) ?? throw new ContainerException($"container {r.Id} has no cgroup (a rootless container without a delegated cgroup)");
}

/// <summary>`run` and `exec` in the foreground pass the signals they receive on to the container's process, as
/// runc does. Started before the process exists (signals are held until <see cref="To"/>), so none takes its
/// default action on the runtime in between. A native handler (native/forward.c): PosixSignalRegistration
/// would start a handler thread and set up the terminal on every start.</summary>
internal sealed unsafe class SignalForwarder : IDisposable
{
    private const int SIGWINCH = 28;
    private static readonly int[] Forwarded = [1, 2, 3, 10, 12, 15, 18]; // HUP INT QUIT USR1 USR2 TERM CONT

    private SignalForwarder()
    {
    }

    public static SignalForwarder Start()
    {
        var f = new SignalForwarder();
        try
        {
            Catch(Forwarded);
        }
        catch
        {
            f.Dispose();
            throw;
        }
        return f;
    }

    /// <summary>Without a terminal: with one, the pty itself tells its foreground process about size changes.</summary>
    public void AlsoWindowChanges() => Catch([SIGWINCH]);

    public void To(int pid)
    {
        CsrError err;
        if (NativeMethods.ForwardSignalsTo(pid, &err) != 0) throw ContainerRuntime.Fail(err);
    }

    private static void Catch(ReadOnlySpan<int> sigs)
    {
        CsrError err;
        fixed (int* p = sigs)
        {
            if (NativeMethods.ForwardSignals(p, sigs.Length, &err) != 0) throw ContainerRuntime.Fail(err);
        }
    }

    public void Dispose() => NativeMethods.StopForwardingSignals();
}
