using System.Runtime.InteropServices;

namespace Csrun.Linux;

/// <summary>Terminal and fd-passing calls for the foreground `run -t` proxy.</summary>
public static unsafe partial class Tty
{
    private const string L = "libc";
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
    public const int TCSANOW = 0;
    public const uint TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414;

    [StructLayout(LayoutKind.Sequential)]
    public struct WinSize { public ushort Rows, Cols, XPixel, YPixel; }

    /// <summary>glibc's struct termios (60 bytes), only ever copied and handed back.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 60)]
    public struct Termios { private fixed byte _data[60]; }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec { public byte* Base; public nuint Len; }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr { public void* Name; public uint NameLen; public IoVec* Iov; public nuint IovLen; public byte* Control; public nuint ControlLen; public int Flags; }

    [LibraryImport(L, EntryPoint = "socketpair", SetLastError = true)]
    public static partial int SocketPair(int domain, int type, int protocol, int* fds);

    [LibraryImport(L, EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvMsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport(L, EntryPoint = "isatty")]
    public static partial int IsATty(int fd);

    [LibraryImport(L, EntryPoint = "tcgetattr", SetLastError = true)]
    public static partial int TcGetAttr(int fd, Termios* t);

    [LibraryImport(L, EntryPoint = "tcsetattr", SetLastError = true)]
    public static partial int TcSetAttr(int fd, int action, Termios* t);

    [LibraryImport(L, EntryPoint = "cfmakeraw")]
    public static partial void CfMakeRaw(Termios* t);

    [LibraryImport(L, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* arg);

    /// <summary>One message's SCM_RIGHTS fd (the pty master a console socket carries), or -1.</summary>
    public static int ReceiveFd(int sock) => ReceiveFd(sock, new byte[256], out _);

    /// <summary>One message: its payload into <paramref name="data"/> and its SCM_RIGHTS fd (or -1).</summary>
    public static int ReceiveFd(int sock, byte[] data, out int length)
    {
        length = 0;
        byte* control = stackalloc byte[64];
        fixed (byte* d = data)
        {
            return Receive(sock, d, data.Length, control, out length);
        }
    }

    private static int Receive(int sock, byte* data, int capacity, byte* control, out int length)
    {
        length = 0;
        var iov = new IoVec { Base = data, Len = (nuint)capacity };
        var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
        nint n;
        do n = RecvMsg(sock, &msg, 0x40000000 /* MSG_CMSG_CLOEXEC */); while (n < 0 && Errno.Last == Libc.EINTR);
        if (n < 0 || msg.ControlLen < 20) return -1;
        length = (int)n;
        // struct cmsghdr { size_t len; int level; int type; } then the fd.
        return *(int*)(control + 8) == 1 && *(int*)(control + 12) == 1 ? *(int*)(control + 16) : -1;
    }
}
