using System.Net.Sockets;
using Csrun.Linux;

namespace Csrun.Engine;

/// <summary>
/// Where the child sends the pty master: the --console-socket connection (conmon, containerd's shim), or, for
/// a foreground `run -t`, one end of a socketpair whose other end csrun itself reads.
/// </summary>
internal sealed class ConsoleSocket : IDisposable
{
    private readonly Socket? _socket;
    private readonly SafeFd? _childEnd;
    private readonly SafeFd? _ourEnd;

    private ConsoleSocket(Socket socket) => _socket = socket;

    private ConsoleSocket(SafeFd childEnd, SafeFd ourEnd)
    {
        _childEnd = childEnd;
        _ourEnd = ourEnd;
    }

    /// <summary>The fd the child sends the master over.</summary>
    public int Fd => _socket is not null ? (int)_socket.SafeHandle.DangerousGetHandle() : _childEnd!.Fd;

    public static ConsoleSocket Connect(string path, string what = "--console-socket")
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(path));
            return new ConsoleSocket(s);
        }
        catch (SocketException e)
        {
            s.Dispose();
            throw new ContainerException($"{what}: connect {path}: {e.Message}");
        }
    }

    public static unsafe ConsoleSocket Pair()
    {
        int* fds = stackalloc int[2];
        Errno.Check(Tty.SocketPair(Tty.AF_UNIX, Tty.SOCK_STREAM | Tty.SOCK_CLOEXEC, 0, fds), "socketpair for the terminal");
        return new ConsoleSocket(new SafeFd(fds[0]), new SafeFd(fds[1]));
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
