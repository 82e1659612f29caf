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
/// The container lifecycle (create, start, run, state, kill, delete, list) over one --root directory.
/// Commands are thin: each opens the container's locked directory, acts, and records the result.
/// </summary>
public sealed class ContainerRuntime(string root, bool systemdCgroup = false)
{
    private readonly StateStore _store = new(root);

    public StateStore Store => _store;

    // ---------------------------------------------------------------- create / run

    /// <summary>`create`: the container's init waits on the exec fifo until `start`.</summary>
    public int Create(CreateOptions o)
    {
        using var dir = CreateContainer(o, gated: true, out _);
        return dir.Record.Pid;
    }

    /// <summary>`run -d`: create and start at once, then leave the container running.</summary>
    public int RunDetached(CreateOptions o)
    {
        using var dir = CreateContainer(o, gated: false, out var spec);
        HookRunner.RunAll(dir.Record.Poststart, "poststart", OciState(dir.Record, ContainerStatus.Running));
        return dir.Record.Pid;
    }

    /// <summary>`run`: create, start, wait; forwards signals; deletes the container when it exits.
    /// Returns the container's exit code, 128+N when a signal N ended it.</summary>
    public int Run(CreateOptions o)
    {
        // A pid-namespace join double-forks: the real init is our grandchild, reparented to us as subreaper.
        Libc.Prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        int pid;
        ContainerRecord record;
        using (var dir = CreateContainer(o, gated: false, out _))
        {
            pid = dir.Record.Pid;
            record = dir.Record;
        }
        int status;
        using (SignalForwarder.Forward(pid))
        {
            HookRunner.RunAll(record.Poststart, "poststart", OciState(record, ContainerStatus.Running));
            status = WaitExit(pid);
            PhaseTimer.Mark("wait exit");
        }
        try
        {
            using var dir = _store.Open(o.Id);
            Destroy(dir, force: true);
            PhaseTimer.Mark("destroy");
        }
        catch (ContainerException)
        {
            // Someone deleted it while it ran: nothing left to clean.
        }
        return status;
    }

    private unsafe ContainerDir CreateContainer(CreateOptions o, bool gated, out Oci.Spec spec)
    {
        PhaseTimer.Mark("startup");
        string bundle = Path.GetFullPath(o.Bundle);
        spec = SpecLoader.Load(bundle);
        PhaseTimer.Mark("load config.json");
        SpecValidator.Validate(spec, bundle);
        if (spec.Process!.Terminal && o.ConsoleSocket is null)
            throw new ContainerException("config.json: process.terminal is set: pass --console-socket (a foreground terminal is not supported by this version of csrun)");
        string rootfs = SpecValidator.RootfsPath(spec, bundle);
        string cgroupPath = CgroupPaths.Resolve(spec.Linux?.CgroupsPath, o.Id, systemdCgroup);
        PhaseTimer.Mark("validate");

        var dir = _store.CreateNew(o.Id);
        ICgroupManager? cgroup = null;
        var child = new CsrChild { Pid = -1, SyncFd = -1, PidFd = -1 };
        bool spawned = false;
        try
        {
            var record = dir.Record;
            record.Bundle = bundle;
            record.Rootfs = rootfs;
            record.CgroupPath = cgroupPath;
            record.Created = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ");
            record.Annotations = spec.Annotations;
            record.Owner = OwnerName();
            record.Poststart = spec.Hooks?.Poststart;
            record.Poststop = spec.Hooks?.Poststop;
            record.PrivatePidNamespace = spec.Linux?.Namespaces?.Exists(n => n.Type == "pid" && string.IsNullOrEmpty(n.Path)) == true;

            PhaseTimer.Mark("state dir");
            cgroup = CgroupManager.Create(CgroupLayout.Host, cgroupPath);
            cgroup.Create();
            PhaseTimer.Mark("cgroup create");
            cgroup.Set(DeviceRules.WithDefaults(spec));
            PhaseTimer.Mark("cgroup set");

            string? fifo = null;
            if (gated)
            {
                fifo = dir.FifoPath;
                Errno.Check(Libc.Mkfifo(fifo, 0x1A0 /* 0640 */), $"mkfifo {fifo}");
            }

            var state = new ContainerState { Id = o.Id, Status = ContainerStatus.Creating, Bundle = bundle, Annotations = spec.Annotations };
            byte[] probe = HookRunner.StateJson(state);
            using var arena = new NativeArena();
            using var console = spec.Process.Terminal ? ConsoleSocket.Connect(o.ConsoleSocket!) : null;
            var opts = new LaunchOptions(o.Id, fifo, o.NoPivot, o.PreserveFds, cgroup.CloneIntoCgroupFd, !o.NoNewKeyring,
                ConsoleFd: console?.Fd ?? -1);
            CsrPlan* plan = PlanBuilder.Build(arena, spec, bundle, rootfs, opts, probe.Length + 4096);

            PhaseTimer.Mark("plan");
            CsrError err;
            if (NativeMethods.Spawn(plan, &child, &err) != 0) throw Fail(err);
            PhaseTimer.Mark("spawn");
            spawned = true;
            record.Pid = child.Pid;
            ProcInfo.TryReadStat(child.Pid, out _, out ulong start);
            record.PidStartTime = start;
            state.Pid = child.Pid;

            cgroup.Apply(child.Pid);
            PhaseTimer.Mark("cgroup apply");
            // The child waits in its new user namespace until its ids are mapped (it becomes root there next).
            if (spec.Linux?.Namespaces?.Exists(n => n.Type == "user" && string.IsNullOrEmpty(n.Path)) == true)
                IdMappings.Write(child.Pid, spec.Linux.UidMappings!, spec.Linux.GidMappings!);
            byte[] json = HookRunner.StateJson(state);
            fixed (byte* p = json)
            {
                if (NativeMethods.Resume(&child, NativeMethods.PhaseMounts, p, (nuint)json.Length, &err) != 0)
                {
                    spawned = false;
                    throw Fail(err);
                }
            }
            PhaseTimer.Mark("child mounts");
            HookRunner.Run(spec.Hooks?.Prestart, "prestart", state);
            HookRunner.Run(spec.Hooks?.CreateRuntime, "createRuntime", state);
            fixed (byte* p = json)
            {
                if (NativeMethods.Resume(&child, NativeMethods.PhaseFinish, p, (nuint)json.Length, &err) != 0)
                {
                    spawned = false;
                    throw Fail(err);
                }
            }
            PhaseTimer.Mark("child finish");
            dir.Save();
            PhaseTimer.Mark("state save");
            if (o.PidFile is not null) WritePidFile(o.PidFile, child.Pid);
            NativeMethods.Release(&child);
            spawned = false;
            return dir;
        }
        catch
        {
            if (spawned) NativeMethods.Abort(&child);
            try
            {
                cgroup?.Destroy();
            }
            catch (Exception e)
            {
                Log.Warn($"cleanup of cgroup {cgroupPath}: {e.Message}");
            }
            dir.Remove();
            dir.Dispose();
            throw;
        }
        finally
        {
            cgroup?.Dispose();
        }
    }

    private static ContainerException Fail(in CsrError err) => new(HookRunner.Describe(err));

    // ---------------------------------------------------------------- start

    public void Start(string id)
    {
        using var dir = _store.Open(id);
        var r = dir.Record;
        string status = StatusOf(dir);
        if (status != ContainerStatus.Created)
            throw new ContainerException($"cannot start a container that is {status}: {id}");
        OpenExecFifo(dir);
        HookRunner.RunAll(r.Poststart, "poststart", OciState(r, ContainerStatus.Running));
    }

    /// <summary>Reading the fifo's byte releases the init into execve. The fifo is removed, which marks "started".</summary>
    private static unsafe void OpenExecFifo(ContainerDir dir)
    {
        var r = dir.Record;
        // Non-blocking open: a blocking one would hang forever if the init died before anyone started it.
        using var fifo = SafeFd.Open(dir.FifoPath, Libc.O_RDONLY | Libc.O_NONBLOCK);
        var pfd = new Libc.PollFd { Fd = fifo.Fd, Events = Libc.POLLIN };
        while (true)
        {
            int n = Libc.Poll(&pfd, 1, 100);
            if (n < 0 && Errno.Last != Libc.EINTR) throw new ErrnoException("poll exec fifo", Errno.Last);
            if (n > 0)
            {
                byte b;
                nint got = Libc.Read(fifo.Fd, &b, 1);
                if (got == 1) break;
                if (got < 0 && Errno.Last == Libc.EAGAIN) continue;
            }
            if (!ProcInfo.IsAlive(r.Pid, r.PidStartTime))
                throw new ContainerException($"container {r.Id} init process exited before start");
        }
        File.Delete(dir.FifoPath);
    }

    // ---------------------------------------------------------------- state / list

    public RuncState State(string id)
    {
        using var dir = _store.Open(id, exclusive: false);
        return RuncStateOf(dir);
    }

    public List<RuncState> List()
    {
        var list = new List<RuncState>();
        foreach (var id in _store.Ids())
        {
            try
            {
                using var dir = _store.Open(id, exclusive: false);
                list.Add(RuncStateOf(dir));
            }
            catch (ContainerException)
            {
                // Deleted while we listed.
            }
        }
        return list;
    }

    private RuncState RuncStateOf(ContainerDir dir)
    {
        var r = dir.Record;
        string status = StatusOf(dir);
        return new RuncState
        {
            Id = r.Id,
            Pid = status == ContainerStatus.Stopped ? 0 : r.Pid,
            Status = status,
            Bundle = r.Bundle,
            Rootfs = r.Rootfs,
            Created = r.Created,
            Owner = r.Owner,
            Annotations = r.Annotations,
        };
    }

    /// <summary>Computed from the live system, never trusted from disk: a container whose init died on its own is "stopped".</summary>
    public string StatusOf(ContainerDir dir)
    {
        var r = dir.Record;
        if (!ProcInfo.IsAlive(r.Pid, r.PidStartTime)) return ContainerStatus.Stopped;
        if (File.Exists(dir.FifoPath)) return ContainerStatus.Created;
        try
        {
            using var cgroup = CgroupManager.Create(CgroupLayout.Host, r.CgroupPath);
            if (cgroup.IsFrozen()) return ContainerStatus.Paused;
        }
        catch (Exception e) when (e is CgroupException or IOException)
        {
        }
        return ContainerStatus.Running;
    }

    private static ContainerState OciState(ContainerRecord r, string status) => new()
    {
        Id = r.Id,
        Status = status,
        Pid = status == ContainerStatus.Stopped ? 0 : r.Pid,
        Bundle = r.Bundle,
        Annotations = r.Annotations,
    };

    // ---------------------------------------------------------------- exec

    private static readonly Dictionary<string, string> NsProcNames = new(StringComparer.Ordinal)
    {
        ["pid"] = "pid", ["network"] = "net", ["mount"] = "mnt", ["ipc"] = "ipc", ["uts"] = "uts", ["cgroup"] = "cgroup", ["user"] = "user",
    };

    /// <summary>
    /// `exec`: a new process in every namespace and the cgroup of a running container, with the container's
    /// process settings as the base (env, cwd, user, capabilities, no_new_privs) and <paramref name="edit"/>
    /// applied on top. Returns the process's exit code (0 right away with <paramref name="detach"/>).
    /// </summary>
    public unsafe int Exec(string id, Func<Oci.Process, Oci.Process> edit, bool detach, string? pidFile, string? consoleSocket = null)
    {
        Oci.Spec spec;
        ContainerRecord r;
        using (var dir = _store.Open(id, exclusive: false))
        {
            r = dir.Record;
            string status = StatusOf(dir);
            if (status is not (ContainerStatus.Running or ContainerStatus.Created))
                throw new ContainerException($"cannot exec in a container that is {status}: {id}");
            spec = SpecLoader.Load(r.Bundle);
            spec.Process = edit(spec.Process ?? new Oci.Process());
            if (spec.Process.Args is null || spec.Process.Args.Count == 0) throw new ContainerException("exec: no command given");
            if (spec.Process.Terminal && consoleSocket is null)
                throw new ContainerException("exec: a terminal needs --console-socket (a foreground terminal is not supported by this version of csrun)");
            // The container's own namespaces, whatever the spec said (new or joined), reached through its init.
            var joined = new List<LinuxNamespace>();
            foreach (var ns in spec.Linux?.Namespaces ?? [])
            {
                if (NsProcNames.TryGetValue(ns.Type, out string? proc))
                    joined.Add(new LinuxNamespace { Type = ns.Type, Path = $"/proc/{r.Pid}/ns/{proc}" });
            }
            spec.Linux ??= new Oci.Linux();
            spec.Linux.Namespaces = joined;
        }
        if (!detach) Libc.Prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

        using var cgroup = CgroupManager.Create(CgroupLayout.Host, r.CgroupPath);
        var child = new CsrChild { Pid = -1, SyncFd = -1, PidFd = -1 };
        bool spawned = false;
        try
        {
            var state = new ContainerState { Id = id, Status = ContainerStatus.Running, Pid = r.Pid, Bundle = r.Bundle, Annotations = r.Annotations };
            byte[] json = HookRunner.StateJson(state);
            using var arena = new NativeArena();
            using var console = spec.Process.Terminal ? ConsoleSocket.Connect(consoleSocket!) : null;
            var opts = new LaunchOptions(id, null, false, 0, cgroup.CloneIntoCgroupFd, NewKeyring: false, Exec: true, ConsoleFd: console?.Fd ?? -1);
            CsrPlan* plan = PlanBuilder.Build(arena, spec, r.Bundle, "/", opts, json.Length + 4096);
            CsrError err;
            if (NativeMethods.Spawn(plan, &child, &err) != 0) throw Fail(err);
            spawned = true;
            cgroup.Apply(child.Pid);
            fixed (byte* p = json)
            {
                if (NativeMethods.Resume(&child, NativeMethods.PhaseMounts, p, (nuint)json.Length, &err) != 0 ||
                    NativeMethods.Resume(&child, NativeMethods.PhaseFinish, p, (nuint)json.Length, &err) != 0)
                {
                    spawned = false;
                    throw Fail(err);
                }
            }
            if (pidFile is not null) WritePidFile(pidFile, child.Pid);
            NativeMethods.Release(&child);
            spawned = false;
        }
        catch
        {
            if (spawned) NativeMethods.Abort(&child);
            throw;
        }
        if (detach) return 0;
        using (SignalForwarder.Forward(child.Pid)) return WaitExit(child.Pid);
    }

    // ---------------------------------------------------------------- pause / resume / ps / update

    public void Pause(string id)
    {
        using var dir = _store.Open(id);
        string status = StatusOf(dir);
        if (status is not (ContainerStatus.Running or ContainerStatus.Created))
            throw new ContainerException($"container {id} is not running: {status}");
        using var cgroup = CgroupManager.Create(CgroupLayout.Host, dir.Record.CgroupPath);
        cgroup.Freeze();
    }

    public void Resume(string id)
    {
        using var dir = _store.Open(id);
        string status = StatusOf(dir);
        if (status != ContainerStatus.Paused) throw new ContainerException($"container {id} is not paused: {status}");
        using var cgroup = CgroupManager.Create(CgroupLayout.Host, dir.Record.CgroupPath);
        cgroup.Thaw();
    }

    /// <summary>`ps`: the pids in the container's cgroup, as the host sees them.</summary>
    public IReadOnlyList<int> Pids(string id)
    {
        using var dir = _store.Open(id, exclusive: false);
        if (StatusOf(dir) == ContainerStatus.Stopped) return [];
        using var cgroup = CgroupManager.Create(CgroupLayout.Host, dir.Record.CgroupPath);
        return cgroup.GetPids();
    }

    /// <summary>`events --stats`: one snapshot of the container's cgroup counters; null once it has stopped.</summary>
    public CgroupStats? Stats(string id)
    {
        using var dir = _store.Open(id, exclusive: false);
        if (StatusOf(dir) == ContainerStatus.Stopped) return null;
        using var cgroup = CgroupManager.Create(CgroupLayout.Host, dir.Record.CgroupPath);
        return cgroup.GetStats();
    }

    /// <summary>`update`: writes the given resources (only the fields that are set) to the live cgroup.</summary>
    public void Update(string id, LinuxResources resources)
    {
        using var dir = _store.Open(id);
        string status = StatusOf(dir);
        if (status == ContainerStatus.Stopped) throw new ContainerException($"container {id} is stopped");
        using var cgroup = CgroupManager.Create(CgroupLayout.Host, dir.Record.CgroupPath);
        cgroup.Set(resources);
    }

    // ---------------------------------------------------------------- kill / delete

    public void Kill(string id, int signal, bool all)
    {
        using var dir = _store.Open(id, exclusive: false);
        var r = dir.Record;
        string status = StatusOf(dir);
        if (status == ContainerStatus.Stopped && !all)
            throw new ContainerException($"container {id} is not running");
        if (all)
        {
            SignalAll(r, signal);
            return;
        }
        if (Libc.Kill(r.Pid, signal) < 0)
        {
            int e = Errno.Last;
            if (e == Libc.ESRCH) throw new ContainerException($"container {id} is not running");
            throw new ErrnoException($"kill {r.Pid}", e);
        }
    }

    public void Delete(string id, bool force)
    {
        using var dir = _store.Open(id);
        string status = StatusOf(dir);
        if (status is ContainerStatus.Running or ContainerStatus.Paused && !force)
            throw new ContainerException($"cannot delete container {id} that is not stopped: {status}");
        Destroy(dir, force: true);
    }

    /// <summary>Kills whatever still runs, removes the cgroups and the state, then runs poststop hooks.</summary>
    private void Destroy(ContainerDir dir, bool force)
    {
        var r = dir.Record;
        ICgroupManager? cgroup = null;
        try
        {
            cgroup = CgroupManager.Create(CgroupLayout.Host, r.CgroupPath);
        }
        catch (CgroupException e)
        {
            Log.Warn($"cgroup {r.CgroupPath}: {e.Message}");
        }
        if (force && ProcInfo.IsAlive(r.Pid, r.PidStartTime))
        {
            try
            {
                cgroup?.Thaw();
            }
            catch (Exception e) when (e is CgroupException or IOException)
            {
            }
            Libc.Kill(r.Pid, Signals.SIGKILL);
            WaitGone(r.Pid, r.PidStartTime);
        }
        // Without its own pid namespace the container's other processes outlive init: kill them by cgroup.
        if (!r.PrivatePidNamespace && cgroup is not null) SignalAll(cgroup, Signals.SIGKILL);
        cgroup?.Destroy();
        cgroup?.Dispose();
        dir.Remove();
        HookRunner.RunAll(r.Poststop, "poststop", OciState(r, ContainerStatus.Stopped));
    }

    private static void SignalAll(ContainerRecord r, int signal)
    {
        using var cgroup = CgroupManager.Create(CgroupLayout.Host, r.CgroupPath);
        SignalAll(cgroup, signal);
    }

    private static void SignalAll(ICgroupManager cgroup, int signal)
    {
        // Freeze first so nothing forks past the signal (runc does the same).
        bool froze = false;
        try
        {
            cgroup.Freeze();
            froze = true;
        }
        catch (Exception e) when (e is CgroupException or IOException)
        {
        }
        foreach (int pid in cgroup.GetPids()) Libc.Kill(pid, signal);
        if (froze) cgroup.Thaw();
        if (signal == Signals.SIGKILL)
        {
            foreach (int pid in cgroup.GetPids()) WaitGone(pid, 0);
        }
    }

    private static unsafe void WaitGone(int pid, ulong startTime)
    {
        // Our own child (run) must be reaped; others are reaped by their parent or init.
        for (int i = 0; i < 1000; i++)
        {
            int st;
            Libc.WaitPid(pid, &st, Libc.WNOHANG);
            if (!ProcInfo.IsAlive(pid, startTime)) return;
            Thread.Sleep(i < 20 ? 1 : 10);
        }
        throw new ContainerException($"process {pid} did not exit after SIGKILL");
    }

    private static unsafe int WaitExit(int pid)
    {
        int status;
        while (true)
        {
            int r = Libc.WaitPid(pid, &status, 0);
            if (r == pid) break;
            if (r < 0 && Errno.Last != Libc.EINTR) throw new ErrnoException($"wait for {pid}", Errno.Last);
        }
        if (Libc.WIfExited(status)) return Libc.WExitStatus(status);
        return 128 + Libc.WTermSig(status);
    }

    private static void WritePidFile(string path, int pid)
    {
        string full = Path.GetFullPath(path);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".tmp");
        File.WriteAllText(tmp, pid.ToString());
        File.Move(tmp, full, overwrite: true);
    }

    private static string OwnerName()
    {
        uint uid = Libc.GetEuid();
        return uid == 0 ? "root" : uid.ToString();
    }
}

/// <summary>`run` in the foreground passes the signals it receives on to the container's init, as runc does.</summary>
internal sealed class SignalForwarder : IDisposable
{
    private static readonly int[] Forwarded = [1, 2, 3, 10, 12, 15, 28, 18]; // HUP INT QUIT USR1 USR2 TERM WINCH CONT
    private readonly List<PosixSignalRegistration> _regs = [];

    public static SignalForwarder Forward(int pid)
    {
        var f = new SignalForwarder();
        foreach (int sig in Forwarded)
        {
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
