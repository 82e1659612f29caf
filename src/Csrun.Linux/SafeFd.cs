using Microsoft.Win32.SafeHandles;

namespace Csrun.Linux;

/// <summary>An owned file descriptor. Every fd csrun opens is O_CLOEXEC so none survives into a container.</summary>
public sealed class SafeFd : SafeHandleZeroOrMinusOneIsInvalid
{
    public SafeFd() : base(true) { }

    public SafeFd(int fd, bool ownsHandle = true) : base(ownsHandle) => SetHandle(fd);

    public int Fd => (int)handle;

    public static SafeFd Open(string path, int flags, int mode = 0)
    {
        int fd = Libc.Open(path, flags | Libc.O_CLOEXEC, mode);
        return fd < 0 ? throw new ErrnoException($"open {path}", Errno.Last) : new SafeFd(fd);
    }

    /// <summary>Like <see cref="Open"/> but returns null (with the errno) instead of throwing.</summary>
    public static SafeFd? TryOpen(string path, int flags, out int errno, int mode = 0)
    {
        int fd = Libc.Open(path, flags | Libc.O_CLOEXEC, mode);
        errno = fd < 0 ? Errno.Last : 0;
        return fd < 0 ? null : new SafeFd(fd);
    }

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
