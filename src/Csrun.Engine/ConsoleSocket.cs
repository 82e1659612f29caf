using System.Net.Sockets;

namespace Csrun.Engine;

/// <summary>The --console-socket connection: the child sends the pty master over it before the command returns.</summary>
internal sealed class ConsoleSocket : IDisposable
{
    private readonly Socket _socket;

    private ConsoleSocket(Socket socket) => _socket = socket;

    public int Fd => (int)_socket.SafeHandle.DangerousGetHandle();

    public static ConsoleSocket Connect(string path)
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
            throw new ContainerException($"--console-socket: connect {path}: {e.Message}");
        }
    }

    public void Dispose() => _socket.Dispose();
}
