using Csrun.Linux;

namespace Csrun.Images;

/// <summary>An flock held until disposed.</summary>
internal sealed class FileLock : IDisposable
{
    private readonly SafeFd _fd;
    private FileLock(SafeFd fd) => _fd = fd;

    public static FileLock Acquire(string path, int op)
    {
        var fd = SafeFd.Open(path, Libc.O_RDWR | Libc.O_CREAT, 0x180);
        while (Libc.Flock(fd.Fd, op) < 0)
        {
            if (Errno.Last == Libc.EINTR) continue;
            int e = Errno.Last;
            fd.Dispose();
            throw new ErrnoException($"flock {path}", e);
        }
        return new FileLock(fd);
    }

    public void Dispose() => _fd.Dispose();
}
