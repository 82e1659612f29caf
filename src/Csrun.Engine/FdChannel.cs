using System.Net.Sockets;
using Csrun.Linux;

namespace Csrun.Engine;

/// <summary>
/// A unix socket the child passes an fd over (SCM_RIGHTS): the pty master to --console-socket (conmon,
/// containerd's shim) or, for a foreground `run -t`, to csrun itself through a socketpair; the seccomp
/// listener fd to linux.seccomp.listenerPath.
/// </summary>
internal sealed class FdChannel : IDisposable
{
    private readonly Socket? _socket;
    private readonly SafeFd? _childEnd;
    private readonly SafeFd? _ourEnd;

    private FdChannel(Socket socket) => _socket = socket;

    private FdChannel(SafeFd childEnd, SafeFd ourEnd)
    {
        _childEnd = childEnd;
        _ourEnd = ourEnd;
    }

    /// <summary>The fd the child sends the master over.</summary>
    public int Fd => _socket is not null ? (int)_socket.SafeHandle.DangerousGetHandle() : _childEnd!.Fd;

    public static FdChannel Connect(string path, string what)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(path));
            return new FdChannel(s);
        }
        catch (SocketException e)
        {
            s.Dispose();
            throw new ContainerException($"{what}: connect {path}: {e.Message}");
        }
    }

    public static unsafe FdChannel Pair()
    {
        int* fds = stackalloc int[2];
        Errno.Check(Tty.SocketPair(Tty.AF_UNIX, Tty.SOCK_STREAM | Tty.SOCK_CLOEXEC, 0, fds), "socketpair for the terminal");
        return new FdChannel(new SafeFd(fds[0]), new SafeFd(fds[1]));
    }

    /// <summary>For a pair: the pty master the child sent (it sends before it reports "created").</summary>
    public int ReceiveMaster()
    {
        int fd = Tty.ReceiveFd(_ourEnd!.Fd);
        return fd >= 0 ? fd : throw new ContainerException("terminal: no pty master came from the container");
    }

    public void Dispose()
    {
        _socket?.Dispose();
        _childEnd?.Dispose();
        _ourEnd?.Dispose();
    }
}
