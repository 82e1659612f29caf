using System.Runtime.InteropServices;

namespace Csrun.Linux;

/// <summary>mount(2) and the fd-based mount API (fsopen/fsconfig/fsmount/move_mount, Linux 5.2+).
/// The new API takes overlay lower dirs one at a time ("lowerdir+", 6.8+), so an image's layer stack
/// is not bounded by mount(2)'s one-page option string.</summary>
public static unsafe partial class MountApi
{
    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_BIND = 0x1000, MS_REC = 0x4000, MS_PRIVATE = 1 << 18;
    public const int MNT_DETACH = 2;

    private const long SYS_move_mount = 429, SYS_fsopen = 430, SYS_fsconfig = 431, SYS_fsmount = 432;
    private const int FSOPEN_CLOEXEC = 1, FSMOUNT_CLOEXEC = 1, MOVE_MOUNT_F_EMPTY_PATH = 4;
    private const int FSCONFIG_SET_STRING = 1, FSCONFIG_CMD_CREATE = 6;

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string? source, string target, string? fstype, ulong flags, string? data);

    /// <summary>Opens a filesystem context; the fd reads back the kernel's error text after a failed fsconfig.</summary>
    public static SafeFd FsOpen(string fsType)
    {
        fixed (byte* p = Utf8(fsType))
        {
            long fd = Libc.Syscall(SYS_fsopen, (long)p, FSOPEN_CLOEXEC, 0, 0, 0);
            return fd < 0 ? throw new ErrnoException($"fsopen {fsType}", Errno.Last) : new SafeFd((int)fd);
        }
    }

    public static void FsConfigString(SafeFd fs, string key, string value)
    {
        fixed (byte* k = Utf8(key))
        fixed (byte* v = Utf8(value))
            if (Libc.Syscall(SYS_fsconfig, fs.Fd, FSCONFIG_SET_STRING, (long)k, (long)v, 0) < 0)
                throw new ErrnoException($"fsconfig {key}={value}{KernelMessage(fs)}", Errno.Last);
    }

    /// <summary>Creates the superblock and returns a detached mount of it.</summary>
    public static SafeFd FsCreateAndMount(SafeFd fs, string what)
    {
        if (Libc.Syscall(SYS_fsconfig, fs.Fd, FSCONFIG_CMD_CREATE, 0, 0, 0) < 0)
            throw new ErrnoException($"create {what}{KernelMessage(fs)}", Errno.Last);
        long m = Libc.Syscall(SYS_fsmount, fs.Fd, FSMOUNT_CLOEXEC, 0, 0, 0);
        return m < 0 ? throw new ErrnoException($"fsmount {what}", Errno.Last) : new SafeFd((int)m);
    }

    /// <summary>Attaches a detached mount at <paramref name="target"/>.</summary>
    public static void MoveMount(SafeFd mnt, string target)
    {
        fixed (byte* empty = ""u8)
        fixed (byte* t = Utf8(target))
            if (Libc.Syscall(SYS_move_mount, mnt.Fd, (long)empty, Libc.AT_FDCWD, (long)t, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                throw new ErrnoException($"move_mount to {target}", Errno.Last);
    }

    private static string KernelMessage(SafeFd fs)
    {
        var buf = stackalloc byte[512];
        nint n = Libc.Read(fs.Fd, buf, 511);
        return n > 2 ? " (" + System.Text.Encoding.UTF8.GetString(buf + 2, (int)n - 2).TrimEnd('\n') + ")" : "";
    }

    private static byte[] Utf8(string s)
    {
        var b = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, b);
        return b;
    }
}
