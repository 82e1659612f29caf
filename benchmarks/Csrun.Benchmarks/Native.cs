using System.Runtime.InteropServices;

namespace Csrun.Benchmarks;

/// <summary>The few libc calls the benchmark needs (Linux, 64-bit glibc layouts).</summary>
internal static unsafe partial class Native
{
    private const string Libc = "libc";

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_CREAT = 0x40;
    public const int O_TRUNC = 0x200;
    public const int O_CLOEXEC = 0x80000;

    public const short POSIX_SPAWN_SETSIGDEF = 0x04;
    public const short POSIX_SPAWN_SETSIGMASK = 0x08;

    public const int EINTR = 4;
    public const int MNT_DETACH = 2;

    // Opaque glibc types; these sizes are generous upper bounds (glibc x86_64/arm64: 80, 336, 128).
    public const int FileActionsSize = 256;
    public const int SpawnAttrSize = 1024;
    public const int SigsetSize = 256;

    [StructLayout(LayoutKind.Sequential)]
    public struct Timeval
    {
        public long Sec;
        public long Usec;
    }

    /// <summary>struct rusage on 64-bit Linux: two timevals and fourteen longs (144 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Rusage
    {
        public Timeval Utime;
        public Timeval Stime;
        public long MaxRss; // KiB
        public long IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NVcsw, NIvcsw;
    }

    [DllImport(Libc, SetLastError = true)]
    public static extern int posix_spawn(out int pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);

    [DllImport(Libc)] public static extern int posix_spawn_file_actions_init(void* fa);
    [DllImport(Libc)] public static extern int posix_spawn_file_actions_destroy(void* fa);
    [DllImport(Libc)] public static extern int posix_spawn_file_actions_addopen(void* fa, int fd, byte* path, int oflag, uint mode);
    [DllImport(Libc)] public static extern int posix_spawnattr_init(void* attr);
    [DllImport(Libc)] public static extern int posix_spawnattr_destroy(void* attr);
    [DllImport(Libc)] public static extern int posix_spawnattr_setflags(void* attr, short flags);
    [DllImport(Libc)] public static extern int posix_spawnattr_setsigdefault(void* attr, void* sigset);
    [DllImport(Libc)] public static extern int posix_spawnattr_setsigmask(void* attr, void* sigset);
    [DllImport(Libc)] public static extern int sigfillset(void* set);
    [DllImport(Libc)] public static extern int sigemptyset(void* set);

    [DllImport(Libc, SetLastError = true)]
    public static extern int wait4(int pid, out int status, int options, out Rusage rusage);

    [DllImport(Libc, SetLastError = true)]
    public static extern int umount2(string target, int flags);

    [DllImport(Libc)]
    public static extern uint geteuid();

    [DllImport(Libc)]
    private static extern IntPtr strerror(int errnum);

    public static string StrError(int errno) => Marshal.PtrToStringUTF8(strerror(errno)) ?? $"errno {errno}";
}
