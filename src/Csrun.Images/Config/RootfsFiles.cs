using System.Runtime.InteropServices;
using Csrun.Linux;

namespace Csrun.Images.Config;

/// <summary>Reads files of an image's rootfs as the container would see them: symlinks resolve inside the
/// rootfs (openat2 RESOLVE_IN_ROOT), so a hostile /etc/passwd -> /host/path cannot leak host files.</summary>
internal static unsafe class RootfsFiles
{
    private const long SYS_openat2 = 437;
    private const ulong RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_IN_ROOT = 0x10;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow { public ulong Flags, Mode, Resolve; }

    public static string? ReadAllText(string rootfs, string path)
    {
        using var root = SafeFd.TryOpen(rootfs, Libc.O_PATH | Libc.O_DIRECTORY, out int err);
        if (root is null) throw new ErrnoException($"open rootfs {rootfs}", err);
        var how = new OpenHow { Flags = (ulong)(Libc.O_RDONLY | Libc.O_CLOEXEC), Resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        var p = System.Text.Encoding.UTF8.GetBytes(path.TrimStart('/') + "\0");
        long fd;
        fixed (byte* pp = p)
            fd = Libc.Syscall(SYS_openat2, root.Fd, (long)pp, (long)&how, sizeof(OpenHow), 0);
        if (fd < 0) return Errno.Last is Libc.ENOENT or Libc.ENOTDIR ? null : throw new ErrnoException($"open {path} in {rootfs}", Errno.Last);
        using var file = new SafeFd((int)fd);
        using var s = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(file.Fd, ownsHandle: false), FileAccess.Read);
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
