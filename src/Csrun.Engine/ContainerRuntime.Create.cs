using System.Runtime.InteropServices;
using System.Text;
using Csrun.Cgroups;
using Csrun.Engine.Native;
using Csrun.Engine.Specs;
using Csrun.Engine.State;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine;

// create, run and run -d: from a bundle to a process waiting on the exec fifo (or running).
public sealed partial class ContainerRuntime
{

    /// <summary>`create`: the container's init waits on the exec fifo until `start`.</summary>
    public int Create(CreateOptions o)
    {
        using var dir = CreateContainer(o, gated: true, out _, out _, out _);
        return dir.Record.Pid;
    }

    /// <summary>`create` for a daemon: the init is made in process but belongs to a monitor (see
    /// <see cref="MonitorLaunch"/>), so it outlives the caller. Returns the init's pid.</summary>
    public int CreateMonitored(CreateOptions o, MonitorLaunch monitor, out int monitorPid)
    {
        using var dir = CreateContainer(o, gated: true, out _, out _, out monitorPid, monitor: monitor);
        return dir.Record.Pid;
    }

    /// <summary>`run -d`: create and start at once, then leave the container running.</summary>
    public int RunDetached(CreateOptions o)
    {
        using var dir = CreateContainer(o, gated: false, out _, out _, out _);
        HookRunner.RunAll(dir.Record.Poststart, "poststart", OciState(dir.Record, ContainerStatus.Running));
        return dir.Record.Pid;
    }

    /// <summary>`run`: create, start, wait; forwards signals; deletes the container when it exits unless
    /// <paramref name="keep"/> (runc's --keep: it stays, stopped, until `delete`).
    /// Returns the container's exit code, 128+N when a signal N ended it.</summary>
    public int Run(CreateOptions o, bool keep = false)
    {
        // A pid-namespace join double-forks: the real init is our grandchild, reparented to us as subreaper.
        Libc.Prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // Until the end, cleanup included: a ^C after the container exited must not cut the delete short.
        using var signals = SignalForwarder.Start();
        int pid;
        ContainerRecord record;
        int ptyMaster;
        using (var dir = CreateContainer(o, gated: false, out _, out ptyMaster, out _, foreground: true))
        {
            pid = dir.Record.Pid;
            record = dir.Record;
        }
        int status;
        using (var tty = ptyMaster >= 0 ? new TtyProxy(ptyMaster) : null)
        {
            if (tty is null) signals.AlsoWindowChanges();
            signals.To(pid);
            HookRunner.RunAll(record.Poststart, "poststart", OciState(record, ContainerStatus.Running));
            status = WaitExit(pid);
            PhaseTimer.Mark("wait exit");
        }
        if (keep) return status;
        try
        {
            using var dir = _store.Open(o.Id);
            Destroy(dir, force: true);
            PhaseTimer.Mark("destroy");
            PhaseTimer.Allocations();
        }
        catch (ContainerException)
        {
            // Someone deleted it while it ran: nothing left to clean.
        }
        return status;
    }

    /// <param name="ptyMaster">For a foreground terminal (no --console-socket): the pty master to proxy, else -1.</param>
    private unsafe ContainerDir CreateContainer(CreateOptions o, bool gated, out Oci.Spec spec, out int ptyMaster, out int monitorPid,
        bool foreground = false, MonitorLaunch? monitor = null)
    {
        ptyMaster = -1;
        monitorPid = 0;
        PhaseTimer.Mark("command line");
        string bundle = Path.GetFullPath(o.Bundle);
        spec = SpecLoader.Load(bundle);
        PhaseTimer.Mark("load config.json");
        SpecValidator.Validate(spec, bundle);
        if (spec.Process!.Terminal && o.ConsoleSocket is null && !foreground && monitor is null)
            throw new ContainerException("config.json: process.terminal is set: pass --console-socket (or run in the foreground)");
        string rootfs = SpecValidator.RootfsPath(spec, bundle);
        string cgroupPath = CgroupPaths.Resolve(spec.Linux?.CgroupsPath, o.Id, systemdCgroup);
        PhaseTimer.Mark("validate");
        // Runs on the second core while the state dir, the cgroups and the plan are made.
        using var prepared = PreparedNamespaces.Start(spec);

        var dir = _store.CreateNew(o.Id);
        ICgroupManager? cgroup = null;
        BackgroundCgroupSetup? cgroupSetup = null;
        bool joinLate = false;
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
            UseStartupMountinfo();
            cgroup = CgroupManager.Create(CgroupLayout.Host, cgroupPath);
            joinLate = JoinsCgroupsLate(spec) && cgroup.SelfJoinPaths.Count > 0;
            // In csrun's run and create the start-up's spawner clones the init in a process of its own
            // (native/spawner.c): this thread makes the v1 cgroups meanwhile, once it has sent the request.
            bool spawner = monitor is null && NativeMethods.SpawnerReady() != 0;
            if (joinLate)
            {
                // Otherwise the v1 directories are made and limited on a second thread while the plan is built and
                // the child is cloned. Either way the child joins them at the start of its mounts phase, which is
                // resumed only once they exist. (In a daemon the namespace thread shares the second core.)
                cgroup.CreateForClone();
                if (!spawner) cgroupSetup = new BackgroundCgroupSetup(cgroup, DeviceRules.WithDefaults(spec));
                PhaseTimer.Mark("cgroup v2 for clone");
            }
            else try
            {
                cgroup.Create();
                PhaseTimer.Mark("cgroup create");
                cgroup.Set(DeviceRules.WithDefaults(spec));
                PhaseTimer.Mark("cgroup set");
            }
            catch (CgroupException e) when (Rootless.CannotUseCgroups(e))
            {
                // As runc rootless: without a delegated cgroup the container runs without one, unless it asked for limits.
                if (Rootless.HasLimits(spec))
                    throw new ContainerException($"linux.resources: a rootless container needs a delegated cgroup for its limits: {e.Message}");
                Log.Warn($"rootless: running without cgroups ({e.Message})");
                cgroup.Destroy();
                cgroup.Dispose();
                cgroup = null;
                record.CgroupPath = "";
            }

            string? fifo = null;
            if (gated)
            {
                fifo = dir.FifoPath;
                Errno.Check(Libc.Mkfifo(fifo, 0x1A0 /* 0640 */), $"mkfifo {fifo}");
                // 0622 as runc makes it: the init reopens it (through an O_PATH fd taken while still root) after
                // it has become the container's user and dropped CAP_DAC_OVERRIDE.
                byte[] path = Encoding.UTF8.GetBytes(fifo + "\0");
                fixed (byte* p = path) Errno.Check(Files.FchmodAt(-100 /* AT_FDCWD */, p, 0x192 /* 0622 */, 0), $"chmod {fifo}");
            }

            var state = new ContainerState { Id = o.Id, Status = ContainerStatus.Creating, Bundle = bundle, Annotations = spec.Annotations };
            byte[] probe = HookRunner.StateJson(state);
            using var arena = new NativeArena();
            using var console = !spec.Process.Terminal || monitor is not null ? null
                : o.ConsoleSocket is not null ? FdChannel.Connect(o.ConsoleSocket, "--console-socket") : FdChannel.Pair();
            var seccomp = spec.Linux?.Seccomp;
            using var listener = seccomp is not null && Security.SeccompCompiler.UsesNotify(seccomp)
                ? FdChannel.Connect(seccomp.ListenerPath!, "linux.seccomp.listenerPath") : null;
            var opts = new LaunchOptions(o.Id, fifo, o.NoPivot, o.PreserveFds, cgroup?.CloneIntoCgroupFd ?? -1, !o.NoNewKeyring,
                ConsoleFd: monitor is not null ? monitor.ConsoleFd : console?.Fd ?? -1, ListenerFd: listener?.Fd ?? -1, Stdio: monitor?.Stdio,
                CgroupJoin: joinLate ? [.. cgroup!.SelfJoinPaths.Select(p => new CgroupJoinFile(-1, p))] : cgroup?.SelfJoinFiles,
                CgroupJoinLate: joinLate);
            CsrPlan* plan = PlanBuilder.Build(arena, spec, bundle, rootfs, opts, 2 * probe.Length + 8192);
            PhaseTimer.Mark("plan");
            prepared?.ApplyTo(plan);
            PhaseTimer.Mark("wait for namespaces");
            CsrError err;
            if (monitor is null)
            {
                if (NativeMethods.SpawnBegin(plan, &child, &err) != 0) throw Fail(err);
                spawned = true;
                PhaseTimer.Mark("spawn");
                if (joinLate && cgroupSetup is null)
                {
                    cgroup!.Create();
                    cgroup.Set(DeviceRules.WithDefaults(spec));
                    PhaseTimer.Mark("cgroup create (beside spawn)");
                }
                if (NativeMethods.SpawnEnd(&child, &err) != 0) throw Fail(err);
                PhaseTimer.Mark("init ready");
            }
            else
            {
                byte** argv = arena.StrArray(monitor.Argv);
                int[] keep = [.. monitor.KeepFds];
                int rc, mpid;
                fixed (int* k = keep) rc = NativeMethods.SpawnMonitored(plan, argv, k, keep.Length, &child, &mpid, &err);
                if (rc != 0) throw Fail(err);
                monitorPid = mpid;
                spawned = true;
                PhaseTimer.Mark("spawn");
            }
            if (child.Spawner != 0) PhaseTimer.Note(child.Spawner == 2 ? "init cloned by the start-up's spawner ahead of the plan" : "init cloned by the start-up's spawner");
            record.Pid = child.Pid;
            ProcInfo.TryReadStat(child.Pid, out _, out ulong start);
            record.PidStartTime = start;
            state.Pid = child.Pid;

            if (cgroupSetup is not null)
            {
                cgroupSetup.Wait();
                PhaseTimer.Mark("cgroup create (beside spawn)");
            }
            cgroup?.Apply(child.Pid, Joined(opts, child));
            PhaseTimer.Mark("cgroup apply");
            // The child waits in its new user namespace until its ids are mapped (it becomes root there next).
            if (spec.Linux?.Namespaces?.Exists(n => n.Type == "user" && string.IsNullOrEmpty(n.Path)) == true)
                IdMappings.Write(child.Pid, spec.Linux.UidMappings!, spec.Linux.GidMappings!);
            byte[] json = HookRunner.StateJson(state);
            // With a seccomp listener the child also needs the container process state, after a NUL.
            if (listener is not null) json = [.. json, 0, .. Csrun.Engine.State.StateJson.WriteProcessState(state, seccomp!.ListenerMetadata)];
            if (spec.Hooks?.Prestart is { Count: > 0 } || spec.Hooks?.CreateRuntime is { Count: > 0 })
            {
                Resume(&child, NativeMethods.PhaseMounts, json);
                PhaseTimer.Mark("child mounts");
                HookRunner.Run(spec.Hooks?.Prestart, "prestart", state);
                HookRunner.Run(spec.Hooks?.CreateRuntime, "createRuntime", state);
                // state.json is written while the child finishes (the lock keeps readers out until we are done).
                Resume(&child, NativeMethods.PhaseFinish, json, dir.Save);
                PhaseTimer.Mark("child finish + state save");
            }
            else
            {
                // No hooks to run between the phases: one round trip through both.
                Resume(&child, NativeMethods.PhaseAll, json, dir.Save);
                PhaseTimer.Mark("child setup + state save");
            }
            // The child sent the master before it reported "created".
            if (console is not null && o.ConsoleSocket is null) ptyMaster = console.ReceiveMaster();
            if (o.PidFile is not null) WritePidFile(o.PidFile, child.Pid);
            NativeMethods.Release(&child);
            spawned = false;
            return dir;
        }
        catch
        {
            if (spawned) NativeMethods.Abort(&child);
            // Nothing is destroyed under the setup thread's feet.
            cgroupSetup?.Join();
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

    // csrun's start-up read the host's mountinfo already, about a millisecond ago (native/spawner.c, to tell
    // whether a cgroup2 hierarchy is mounted): the cgroup layout comes from that copy, not from another read.
    private static unsafe void UseStartupMountinfo()
    {
        byte* text;
        nuint len;
        if (NativeMethods.StartupMountinfo(&text, &len) == 0) CgroupLayout.UseMountinfo(Encoding.UTF8.GetString(text, checked((int)len)));
    }

    // The child opens the v1 `tasks` files itself then: only where host paths still resolve in it (a new mount
    // namespace) and it may write them (no user namespace); rootless containers keep the simple path.
    private static bool JoinsCgroupsLate(Oci.Spec spec)
    {
        var nss = spec.Linux?.Namespaces;
        return !Rootless.IsRootless && nss is not null && !nss.Exists(n => n.Type == "user")
            && nss.Exists(n => n.Type == "mount" && string.IsNullOrEmpty(n.Path));
    }

    /// <summary>The cgroup placements the child's spawn did already.</summary>
    private static CgroupJoined Joined(LaunchOptions o, in CsrChild child) =>
        (o.CgroupJoin is { Count: > 0 } ? CgroupJoined.V1 : CgroupJoined.None) | (child.InCgroup != 0 ? CgroupJoined.V2 : CgroupJoined.None);
}
