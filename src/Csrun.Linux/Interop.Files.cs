using System.Runtime.InteropServices;

namespace Csrun.Linux;

/// <summary>The *at family of file calls, for writing inside a directory fd without resolving paths from "/".</summary>
public static unsafe partial class Files
{
    private const string L = "libc";
    public const int AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_SYMLINK_FOLLOW = 0x400, AT_EMPTY_PATH = 0x1000;
    public const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFCHR = 0x2000, S_IFBLK = 0x6000, S_IFREG = 0x8000, S_IFIFO = 0x1000, S_IFLNK = 0xA000;
    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_BENEATH = 0x08, RESOLVE_IN_ROOT = 0x10;
    public const int ELOOP = 40, EXDEV = 18, ENOTSUP = 95;
    private const long SYS_openat2 = 437;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow { public ulong Flags, Mode, Resolve; }

    /// <summary>openat2(2): returns the fd or -errno.</summary>
    public static int OpenAt2(int dirfd, ReadOnlySpan<byte> pathZ, int flags, ulong resolve, uint mode = 0)
    {
        var how = new OpenHow { Flags = (ulong)(flags | Libc.O_CLOEXEC), Mode = mode, Resolve = resolve };
        fixed (byte* p = pathZ)
        {
            long r = Libc.Syscall(SYS_openat2, dirfd, (long)p, (long)&how, sizeof(OpenHow), 0);
            return r < 0 ? -Errno.Last : (int)r;
        }
    }

    [LibraryImport(L, EntryPoint = "openat", SetLastError = true)]
    public static partial int OpenAt(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport(L, EntryPoint = "mkdirat", SetLastError = true)]
    public static partial int MkdirAt(int dirfd, byte* path, uint mode);

    [LibraryImport(L, EntryPoint = "mknodat", SetLastError = true)]
    public static partial int MknodAt(int dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport(L, EntryPoint = "symlinkat", SetLastError = true)]
    public static partial int SymlinkAt(byte* target, int dirfd, byte* path);

    [LibraryImport(L, EntryPoint = "linkat", SetLastError = true)]
    public static partial int LinkAt(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    [LibraryImport(L, EntryPoint = "unlinkat", SetLastError = true)]
    public static partial int UnlinkAt(int dirfd, byte* path, int flags);

    [LibraryImport(L, EntryPoint = "fchownat", SetLastError = true)]
    public static partial int FchownAt(int dirfd, byte* path, uint uid, uint gid, int flags);

    [LibraryImport(L, EntryPoint = "fchmodat", SetLastError = true)]
    public static partial int FchmodAt(int dirfd, byte* path, uint mode, int flags);

    [LibraryImport(L, EntryPoint = "fchown", SetLastError = true)]
    public static partial int Fchown(int fd, uint uid, uint gid);

    [LibraryImport(L, EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(int fd, uint mode);

    [LibraryImport(L, EntryPoint = "utimensat", SetLastError = true)]
    public static partial int UtimensAt(int dirfd, byte* path, Timespec* times, int flags);

    [LibraryImport(L, EntryPoint = "futimens", SetLastError = true)]
    public static partial int Futimens(int fd, Timespec* times);

    [LibraryImport(L, EntryPoint = "fsetxattr", SetLastError = true)]
    public static partial int Fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(L, EntryPoint = "lsetxattr", SetLastError = true)]
    public static partial int Lsetxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(L, EntryPoint = "fstatat", SetLastError = true)]
    public static partial int FstatAt(int dirfd, byte* path, Stat* buf, int flags);

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec { public long Sec, Nsec; }

    /// <summary>x86_64 struct stat.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Stat
    {
        public ulong Dev, Ino, Nlink;
        public uint Mode, Uid, Gid;
        private readonly int _pad0;
        public ulong Rdev;
        public long Size, Blksize, Blocks;
        public Timespec Atime, Mtime, Ctime;
        private readonly long _r0, _r1, _r2;
    }

    public static long Major(ulong dev) => (long)(((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0xfff));

    public static long Minor(ulong dev) => (long)(((dev >> 12) & 0xffffff00) | (dev & 0xff));

    /// <summary>stat(2) (or lstat); returns 0, or -1 with errno set.</summary>
    public static int StatPath(string path, out Stat st, bool followSymlinks)
    {
        const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100;
        byte[] p = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        Stat buf;
        int rc;
        fixed (byte* pp = p) rc = FstatAt(AT_FDCWD, pp, &buf, followSymlinks ? 0 : AT_SYMLINK_NOFOLLOW);
        st = buf;
        return rc;
    }

    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
}
