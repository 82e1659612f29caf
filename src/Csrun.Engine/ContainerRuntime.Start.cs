using System.Runtime.InteropServices;
using System.Text;
using Csrun.Cgroups;
using Csrun.Engine.Native;
using Csrun.Engine.Specs;
using Csrun.Engine.State;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine;

// start: release the init through the exec fifo.
public sealed partial class ContainerRuntime
{

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
}
