using System.Runtime.InteropServices;
using System.Text;
using Csrun.Cgroups;
using Csrun.Engine.Native;
using Csrun.Engine.Specs;
using Csrun.Engine.State;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine;

// kill and delete, and the waiting that goes with them.
public sealed partial class ContainerRuntime
{

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
            cgroup = CgroupOf(r);
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
        using var cgroup = CgroupOf(r);
        if (cgroup is null) Libc.Kill(r.Pid, signal);
        else SignalAll(cgroup, signal);
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

    /// <summary>Waits for a foreground <c>run</c>'s or <c>exec</c>'s process, the rest of the command's life; meanwhile
    /// the command's exit is made not to unmap its memory before its caller hears of it (native/teardown.c).</summary>
    private static unsafe int WaitExit(int pid)
    {
        NativeMethods.DeferTeardown();
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
