using System.Runtime.InteropServices;

namespace Csrun.Linux;

/// <summary>Calls for holding network namespaces in files, as `ip netns add` does. mount(2) is declared here
/// privately so this file stands alone beside any other mount interop.</summary>
public static partial class Netns
{
    private const string L = "libc";
    private const int MNT_DETACH = 2;

    [LibraryImport(L, EntryPoint = "unshare", SetLastError = true)]
    private static partial int Unshare(int flags);

    [LibraryImport(L, EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);

    [LibraryImport(L, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mount(string? source, string target, string? fstype, ulong flags, nint data);

    [LibraryImport(L, EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Unlink(string path);

    [LibraryImport(L, EntryPoint = "sethostname", SetLastError = true)]
    private static unsafe partial int SetHostnameRaw(byte* name, nuint len);

    /// <summary>sethostname(2) in the calling thread's UTS namespace (call it from a <see cref="Create"/> action).</summary>
    public static unsafe void SetHostname(string name)
    {
        byte[] b = System.Text.Encoding.UTF8.GetBytes(name);
        fixed (byte* p = b) Errno.Check(SetHostnameRaw(p, (nuint)b.Length), $"sethostname {name}");
    }

    [LibraryImport(L, EntryPoint = "gettid")]
    private static partial int GetTid();

    /// <summary>
    /// Makes <paramref name="dir"/> a shared mount point (bind-mounting it onto itself first when it is not one),
    /// so namespace files mounted under it propagate into mount namespaces created later (containers, `ip netns exec`).
    /// </summary>
    public static void PrepareDirectory(string dir)
    {
        Directory.CreateDirectory(dir);
        if (Mount(null, dir, null, MountFlags.MS_SHARED | MountFlags.MS_REC, 0) == 0)
            return;
        int errno = Errno.Last;
        if (errno != Libc.EINVAL) // EINVAL: not a mount point yet.
            throw new ErrnoException($"make {dir} shared", errno);
        Errno.Check(Mount(dir, dir, null, MountFlags.MS_BIND | MountFlags.MS_REC, 0), $"bind {dir} onto itself");
        Errno.Check(Mount(null, dir, null, MountFlags.MS_SHARED | MountFlags.MS_REC, 0), $"make {dir} shared");
    }

    /// <summary>Undoes <see cref="PrepareDirectory"/>'s self bind mount (it must hold no namespaces).</summary>
    public static void ReleaseDirectory(string dir)
    {
        if (Libc.Umount2(dir, MNT_DETACH) < 0 && Errno.Last is not (Libc.EINVAL or Libc.ENOENT))
            throw new ErrnoException($"umount {dir}", Errno.Last);
    }

    /// <summary>
    /// Creates a new network namespace and binds it onto <paramref name="path"/> (an empty file made here), so it
    /// lives without any process in it.
    /// </summary>
    public static void Create(string path) => Create(path, CloneFlags.CLONE_NEWNET);

    /// <summary>
    /// Creates a new namespace of one kind (net, ipc or uts) and binds it onto <paramref name="path"/>.
    /// <paramref name="inside"/> runs in it first (set the hostname, write sysctls under /proc/sys). The unshare
    /// happens on a thread of its own that switches back before it ends: no other thread of this process ever
    /// changes namespace.
    /// </summary>
    public static void Create(string path, ulong kind, Action? inside = null)
    {
        int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0);
        if (fd < 0)
            throw new ErrnoException($"create {path}", Errno.Last);
        Libc.Close(fd);

        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                CreateOnThisThread(path, kind, inside);
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, maxStackSize: 256 * 1024);
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            Libc.Umount2(path, MNT_DETACH);
            Unlink(path);
            throw failure;
        }
    }

    private static string ProcName(ulong kind) => kind switch
    {
        CloneFlags.CLONE_NEWNET => "net",
        CloneFlags.CLONE_NEWIPC => "ipc",
        CloneFlags.CLONE_NEWUTS => "uts",
        _ => throw new ArgumentException($"namespace kind {kind} cannot be held in a file here", nameof(kind)),
    };

    private static void CreateOnThisThread(string path, ulong kind, Action? inside)
    {
        string name = ProcName(kind);
        using var original = SafeFd.Open($"/proc/thread-self/ns/{name}", Libc.O_RDONLY);
        // Each thread has its own fs struct only after unshare(CLONE_FS); ipc and uts need none, net none either.
        Errno.Check(Unshare((int)kind), $"unshare({name})");
        try
        {
            inside?.Invoke();
            Errno.Check(Mount($"/proc/self/task/{GetTid()}/ns/{name}", path, null, MountFlags.MS_BIND, 0), $"bind {name} namespace onto {path}");
        }
        finally
        {
            // Back to the process's namespace; if even this failed the thread is about to end anyway.
            SetNs(original.Fd, (int)kind);
        }
    }

    /// <summary>Holds an existing namespace (e.g. /proc/PID/ns/pid) by binding it onto <paramref name="path"/>.</summary>
    public static void Hold(string nsSource, string path)
    {
        int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0);
        if (fd < 0)
            throw new ErrnoException($"create {path}", Errno.Last);
        Libc.Close(fd);
        if (Mount(nsSource, path, null, MountFlags.MS_BIND, 0) < 0)
        {
            int errno = Errno.Last;
            Unlink(path);
            throw new ErrnoException($"bind {nsSource} onto {path}", errno);
        }
    }

    /// <summary>Runs <paramref name="action"/> on a thread of its own inside the namespace held at <paramref name="path"/>.</summary>
    public static void RunIn(string path, ulong kind, Action action)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                string name = ProcName(kind);
                using var original = SafeFd.Open($"/proc/thread-self/ns/{name}", Libc.O_RDONLY);
                using var target = SafeFd.Open(path, Libc.O_RDONLY);
                Errno.Check(SetNs(target.Fd, (int)kind), $"setns {path}");
                try { action(); }
                finally { SetNs(original.Fd, (int)kind); }
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, maxStackSize: 256 * 1024);
        thread.Start();
        thread.Join();
        if (failure is not null) throw failure;
    }

    /// <summary>Unmounts and deletes a namespace file; the namespace goes once nothing else holds it. Absent is fine.</summary>
    public static void Remove(string path)
    {
        if (Libc.Umount2(path, MNT_DETACH) < 0 && Errno.Last is not (Libc.EINVAL or Libc.ENOENT))
            throw new ErrnoException($"umount {path}", Errno.Last);
        if (Unlink(path) < 0 && Errno.Last != Libc.ENOENT)
            throw new ErrnoException($"unlink {path}", Errno.Last);
    }
}
