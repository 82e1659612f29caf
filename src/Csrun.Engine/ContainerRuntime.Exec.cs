using System.Runtime.InteropServices;
using System.Text;
using Csrun.Cgroups;
using Csrun.Engine.Native;
using Csrun.Engine.Specs;
using Csrun.Engine.State;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine;

// exec: a new process in the namespaces and the cgroup of a running container.
public sealed partial class ContainerRuntime
{

    private static readonly Dictionary<string, string> NsProcNames = new(StringComparer.Ordinal)
    {
        ["pid"] = "pid", ["network"] = "net", ["mount"] = "mnt", ["ipc"] = "ipc", ["uts"] = "uts", ["cgroup"] = "cgroup", ["user"] = "user",
    };

    /// <summary>
    /// `exec`: a new process in every namespace and the cgroup of a running container, with the container's
    /// process settings as the base (env, cwd, user, capabilities, no_new_privs) and <paramref name="edit"/>
    /// applied on top. Returns the process's exit code (0 right away with <paramref name="detach"/>).
    /// </summary>
    public int Exec(string id, Func<Oci.Process, Oci.Process> edit, bool detach, string? pidFile, string? consoleSocket = null)
    {
        using var signals = detach ? null : SignalForwarder.Start();
        if (signals is not null)
        {
            Libc.Prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
            signals.AlsoWindowChanges();
        }
        int pid = SpawnExec(id, edit, consoleSocket, StdioFds.Inherit, directChild: false, out _);
        if (pidFile is not null) WritePidFile(pidFile, pid);
        if (signals is null) return 0;
        signals.To(pid);
        return WaitExit(pid);
    }

    /// <summary>
    /// Exec for a long-lived caller (csrund): the process is the caller's direct child even when it joins the
    /// container's pid namespace, so the caller needs no subreaper role and can wait on it; its stdio are
    /// <paramref name="stdio"/>, or with process.terminal a pty whose master the caller gets (<see cref="ExecProcess.PtyMaster"/>).
    /// </summary>
    public ExecProcess StartExec(string id, Func<Oci.Process, Oci.Process> edit, StdioFds stdio)
    {
        int pid = SpawnExec(id, edit, null, stdio, directChild: true, out int master);
        return new ExecProcess(pid) { PtyMaster = master };
    }

    private unsafe int SpawnExec(string id, Func<Oci.Process, Oci.Process> edit, string? consoleSocket, StdioFds stdio, bool directChild, out int ptyMaster)
    {
        ptyMaster = -1;
        Oci.Spec spec;
        ContainerRecord r;
        string? pidNamespace = null;
        using (var dir = _store.Open(id, exclusive: false))
        {
            r = dir.Record;
            string status = StatusOf(dir);
            if (status is not (ContainerStatus.Running or ContainerStatus.Created))
                throw new ContainerException($"cannot exec in a container that is {status}: {id}");
            spec = SpecLoader.Load(r.Bundle);
            spec.Process = edit(spec.Process ?? new Oci.Process());
            if (spec.Process.Args is null || spec.Process.Args.Count == 0) throw new ContainerException("exec: no command given");
            if (spec.Process.Terminal && consoleSocket is null && !directChild)
                throw new ContainerException("exec: a terminal needs --console-socket (a foreground terminal is not supported by this version of csrun)");
            // The container's own namespaces, whatever the spec said (new or joined), reached through its init.
            var joined = new List<LinuxNamespace>();
            foreach (var ns in spec.Linux?.Namespaces ?? [])
            {
                if (!NsProcNames.TryGetValue(ns.Type, out string? proc)) continue;
                string path = $"/proc/{r.Pid}/ns/{proc}";
                if (ns.Type == "pid" && directChild) pidNamespace = path;
                else joined.Add(new LinuxNamespace { Type = ns.Type, Path = path });
            }
            spec.Linux ??= new Oci.Linux();
            spec.Linux.Namespaces = joined;
        }

        using var cgroup = CgroupOf(r);
        var child = new CsrChild { Pid = -1, SyncFd = -1, PidFd = -1 };
        bool spawned = false;
        try
        {
            var state = new ContainerState { Id = id, Status = ContainerStatus.Running, Pid = r.Pid, Bundle = r.Bundle, Annotations = r.Annotations };
            byte[] json = HookRunner.StateJson(state);
            using var arena = new NativeArena();
            using var console = !spec.Process.Terminal ? null
                : consoleSocket is not null ? FdChannel.Connect(consoleSocket, "--console-socket") : FdChannel.Pair();
            var opts = new LaunchOptions(id, null, false, 0, cgroup?.CloneIntoCgroupFd ?? -1, NewKeyring: false, Exec: true,
                ConsoleFd: console?.Fd ?? -1, Stdio: stdio, CgroupJoin: cgroup?.SelfJoinFiles);
            CsrPlan* plan = PlanBuilder.Build(arena, spec, r.Bundle, "/", opts, json.Length + 4096);
            CsrError err;
            int rc;
            using (pidNamespace is null ? null : PidNamespaceForChildren.Enter(pidNamespace))
                rc = NativeMethods.Spawn(plan, &child, &err);
            if (rc != 0) throw Fail(err);
            spawned = true;
            cgroup?.Apply(child.Pid, Joined(opts, child));
            Resume(&child, NativeMethods.PhaseAll, json);
            // The child sent the master before it reported "created".
            if (console is not null && consoleSocket is null) ptyMaster = console.ReceiveMaster();
            NativeMethods.Release(&child);
            spawned = false;
            return child.Pid;
        }
        catch
        {
            if (spawned) NativeMethods.Abort(&child);
            throw;
        }
    }
}

/// <summary>The descriptors an exec'd process gets as stdin, stdout and stderr; -1 keeps the caller's.</summary>
public readonly record struct StdioFds(int In, int Out, int Err)
{
    public static readonly StdioFds Inherit = new(-1, -1, -1);
}

/// <summary>
/// Puts the calling thread's children into another pid namespace (setns(CLONE_NEWPID) changes only
/// pid_for_children, and only for this thread) until disposed, so a clone made in between lands in the
/// container's pid namespace as our own child, with no double fork.
/// </summary>
internal sealed class PidNamespaceForChildren : IDisposable
{
    private readonly SafeFd _original;

    private PidNamespaceForChildren(SafeFd original) => _original = original;

    public static PidNamespaceForChildren Enter(string nsPath)
    {
        var original = SafeFd.Open("/proc/thread-self/ns/pid_for_children", Libc.O_RDONLY);
        try
        {
            using var target = SafeFd.Open(nsPath, Libc.O_RDONLY);
            Errno.Check(Libc.SetNs(target.Fd, (int)CloneFlags.CLONE_NEWPID), $"setns {nsPath}");
            return new PidNamespaceForChildren(original);
        }
        catch
        {
            original.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        // Going back to our own pid namespace is always allowed: it is an ancestor of the container's.
        if (Libc.SetNs(_original.Fd, (int)CloneFlags.CLONE_NEWPID) < 0)
            Log.Warn($"setns back to the runtime's pid namespace: errno {Errno.Last}");
        _original.Dispose();
    }
}

/// <summary>A process started by <see cref="ContainerRuntime.StartExec"/>: the caller's child, waited on once.</summary>
public sealed class ExecProcess(int pid)
{
    private int _exited;

    public int Pid { get; } = pid;

    /// <summary>With a terminal: the pty master (the caller's to close), else -1.</summary>
    public int PtyMaster { get; init; } = -1;

    /// <summary>Sends a signal unless the process has been reaped (its pid may belong to someone else by then).</summary>
    public void Signal(int signal)
    {
        lock (this)
        {
            if (_exited == 0) Libc.Kill(Pid, signal);
        }
    }

    /// <summary>Waits for the exit on a thread of its own; returns the exit code, 128+N for a signal N.</summary>
    public Task<int> WaitAsync() => Task.Factory.StartNew(() =>
    {
        int status;
        while (true)
        {
            int r;
            unsafe
            {
                // WNOWAIT first: the zombie keeps the pid until Signal can no longer race with the reap.
                r = WaitId(Pid);
            }
            if (r == 0) break;
            if (Errno.Last != Libc.EINTR) throw new ErrnoException($"wait for {Pid}", Errno.Last);
        }
        lock (this)
        {
            unsafe
            {
                Libc.WaitPid(Pid, &status, 0);
            }
            _exited = 1;
        }
        return Libc.WIfExited(status) ? Libc.WExitStatus(status) : 128 + Libc.WTermSig(status);
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static unsafe int WaitId(int pid)
    {
        var info = stackalloc byte[128];
        return Libc.WaitId(Libc.P_PID, pid, info, Libc.WEXITED | Libc.WNOWAIT);
    }
}
