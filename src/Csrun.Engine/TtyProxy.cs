using System.Runtime.InteropServices;
using Csrun.Linux;

namespace Csrun.Engine;

/// <summary>
/// Foreground `run -t`: the container's pty master on the caller's terminal, as runc does it. The caller's
/// tty goes raw while the container runs (the container's line discipline does the editing), window size
/// changes are passed to the pty, and the tty is restored however the container ends.
/// </summary>
internal sealed unsafe class TtyProxy : IDisposable
{
    private readonly int _master;
    private readonly bool _stdinIsTty;
    private Tty.Termios _saved;
    private PosixSignalRegistration? _winch;
    private Thread? _output;

    public TtyProxy(int master)
    {
        _master = master;
        _stdinIsTty = Tty.IsATty(0) == 1;
        ResizeFromCaller();
        if (_stdinIsTty)
        {
            fixed (Tty.Termios* saved = &_saved)
            {
                if (Tty.TcGetAttr(0, saved) == 0)
                {
                    Tty.Termios raw = _saved;
                    Tty.CfMakeRaw(&raw);
                    Tty.TcSetAttr(0, Tty.TCSANOW, &raw);
                }
            }
            _winch = PosixSignalRegistration.Create((PosixSignal)28 /* SIGWINCH */, ctx => { ctx.Cancel = true; ResizeFromCaller(); });
        }
        // Background threads: the output copy ends at EIO once the container's last writer is gone;
        // the input copy may sit in read(0) forever and simply dies with the process.
        _output = new Thread(() => Copy(_master, 1)) { IsBackground = true, Name = "pty-out" };
        _output.Start();
        new Thread(() => Copy(0, _master)) { IsBackground = true, Name = "pty-in" }.Start();
    }

    private void ResizeFromCaller()
    {
        Tty.WinSize ws;
        if (Tty.Ioctl(0, Tty.TIOCGWINSZ, &ws) == 0) Tty.Ioctl(_master, Tty.TIOCSWINSZ, &ws);
    }

    private static void Copy(int from, int to)
    {
        byte* buf = (byte*)NativeMemory.Alloc(16384);
        try
        {
            while (true)
            {
                nint n = Libc.Read(from, buf, 16384);
                if (n < 0 && Errno.Last == Libc.EINTR) continue;
                if (n <= 0) return;
                for (nint off = 0; off < n;)
                {
                    nint w = Libc.Write(to, buf + off, n - off);
                    if (w < 0 && Errno.Last == Libc.EINTR) continue;
                    if (w <= 0) return;
                    off += w;
                }
            }
        }
        finally
        {
            NativeMemory.Free(buf);
        }
    }

    public void Dispose()
    {
        // Let the last output reach the caller before the tty is handed back.
        _output?.Join(TimeSpan.FromSeconds(2));
        _winch?.Dispose();
        if (_stdinIsTty)
        {
            fixed (Tty.Termios* saved = &_saved) Tty.TcSetAttr(0, Tty.TCSANOW, saved);
        }
        Libc.Close(_master);
    }
}
