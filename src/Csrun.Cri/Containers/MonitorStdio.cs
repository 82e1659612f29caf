using Csrun.Engine;
using Csrun.Linux;

namespace Csrun.Cri.Containers;

/// <summary>
/// The descriptors between a container and its monitor: pipes for stdout and stderr (and stdin when the
/// container keeps it open), or a socket on which the init sends its pty master. The init's ends become its
/// stdio, the monitor keeps the others; csrund closes all of its copies once the container is created.
/// </summary>
internal sealed unsafe class MonitorStdio : IDisposable
{
    private readonly List<int> _ours = [];
    private readonly List<string> _args = [];
    private readonly List<int> _monitorEnds = [];
    private StdioFds _init = StdioFds.Inherit;
    private int _console = -1;

    public MonitorStdio(bool terminal, bool stdin)
    {
        try
        {
            if (terminal)
            {
                int* sp = stackalloc int[2];
                Errno.Check(Tty.SocketPair(Tty.AF_UNIX, Tty.SOCK_STREAM | Tty.SOCK_CLOEXEC, 0, sp), "socketpair for the console");
                _ours.Add(sp[0]);
                _ours.Add(sp[1]);
                _console = sp[0];
                Give("--console-fd", sp[1]);
                _args.Add("--terminal");
                if (stdin) _args.Add("--stdin");
                return;
            }
            int devnull = Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
            if (devnull < 0) throw new ErrnoException("open /dev/null", Errno.Last);
            _ours.Add(devnull);
            var (outRead, outWrite) = Pipe();
            var (errRead, errWrite) = Pipe();
            Give("--stdout-fd", outRead);
            Give("--stderr-fd", errRead);
            int initIn = devnull;
            if (stdin)
            {
                var (inRead, inWrite) = Pipe();
                initIn = inRead;
                Give("--stdin-fd", inWrite);
                _args.Add("--stdin");
            }
            _init = new StdioFds(initIn, outWrite, errWrite);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public MonitorLaunch Launch(string monitorPath, string dir, string logPath, bool stdinOnce)
    {
        List<string> argv = [monitorPath, "--dir", dir, "--log", logPath, .. _args];
        if (stdinOnce) argv.Add("--stdin-once");
        return new MonitorLaunch(argv, _monitorEnds, _init, _console);
    }

    private void Give(string flag, int fd)
    {
        _args.Add(flag);
        _args.Add(fd.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _monitorEnds.Add(fd);
    }

    private (int Read, int Write) Pipe()
    {
        int* fds = stackalloc int[2];
        Errno.Check(Libc.Pipe2(fds, Libc.O_CLOEXEC), "pipe2");
        _ours.Add(fds[0]);
        _ours.Add(fds[1]);
        return (fds[0], fds[1]);
    }

    public void Dispose()
    {
        foreach (int fd in _ours) Libc.Close(fd);
        _ours.Clear();
    }
}
