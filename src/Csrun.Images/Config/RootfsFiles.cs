using Csrun.Linux;

namespace Csrun.Images.Config;

/// <summary>Reads files of an image's rootfs as the container would see them: symlinks resolve inside the
/// rootfs (openat2 RESOLVE_IN_ROOT), so a hostile /etc/passwd -> /host/path cannot leak host files.</summary>
internal static class RootfsFiles
{
    public static string? ReadAllText(string rootfs, string path)
    {
        using var root = SafeFd.TryOpen(rootfs, Libc.O_PATH | Libc.O_DIRECTORY, out int err)
            ?? throw new ErrnoException($"open rootfs {rootfs}", err);
        var p = System.Text.Encoding.UTF8.GetBytes(path.TrimStart('/') + "\0");
        int fd = Files.OpenAt2(root.Fd, p, Libc.O_RDONLY, Files.RESOLVE_IN_ROOT | Files.RESOLVE_NO_MAGICLINKS);
        if (fd < 0) return -fd is Libc.ENOENT or Libc.ENOTDIR ? null : throw new ErrnoException($"open {path} in {rootfs}", -fd);
        using var s = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read);
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
