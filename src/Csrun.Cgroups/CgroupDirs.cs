using System.Diagnostics;
using Csrun.Linux;

namespace Csrun.Cgroups;

/// <summary>Creating, walking and removing cgroup directories, shared by the v1 and v2 managers.</summary>
internal static class CgroupDirs
{
    /// <summary>Calls visit(parentDir, dir, created) for every level of path below mount, top down, creating the
    /// directories that do not exist yet; visit returns false when dir vanished under it. beforeCreate(parentDir)
    /// runs before a level is made; without it a level is simply mkdir'ed (EEXIST: it was there), one system
    /// call instead of a stat and a mkdir.</summary>
    public static void Create(string mount, string path, Action<string>? beforeCreate, Func<string, string, bool, bool>? visit)
    {
        // Another container's delete removes the empty parents it leaves (RemoveEmptyParents): a parent seen a
        // moment ago can be gone when its child is made (ENOENT), or a level just made can be gone before visit
        // fills it. The walk then starts again from the top; visit is idempotent for levels that already exist.
        for (int attempt = 1; ; attempt++)
        {
            if (TryCreate(mount, path, beforeCreate, visit, attempt == 1, out string? missing)) return;
            if (attempt == 8)
                throw new CgroupException($"create cgroup: mkdir {missing}: {Errno.Describe(Libc.ENOENT)}",
                    new ErrnoException($"mkdir {missing}", Libc.ENOENT));
        }
    }

    /// <summary>False, with the directory it could not make or fill, when a level vanished under it. With
    /// leafFirst the last level is made first: its parents exist already in the common case (csrun/ under the
    /// hierarchy), one mkdir instead of one a level; only where that does not make it does the walk start at the top.</summary>
    private static bool TryCreate(string mount, string path, Action<string>? beforeCreate, Func<string, string, bool, bool>? visit,
        bool leafFirst, out string? missing)
    {
        missing = null;
        int last = path.LastIndexOf('/');
        if (leafFirst && last >= 0)
        {
            string parent = mount + path[..last], leaf = mount + path;
            beforeCreate?.Invoke(parent);
            if (Mkdir(leaf) == true)
            {
                if (visit is null || visit(parent, leaf, true)) return true;
                missing = leaf;
                return false;
            }
        }
        string dir = mount;
        int start = 1;
        while (start <= path.Length)
        {
            int slash = path.IndexOf('/', start);
            int end = slash < 0 ? path.Length : slash;
            string parent = dir;
            dir = mount + path[..end];
            start = end + 1;
            bool? created;
            if (beforeCreate is null) created = Mkdir(dir);
            else if (Directory.Exists(dir)) created = false;
            else
            {
                beforeCreate(parent);
                created = Mkdir(dir);
            }
            if (created is null || (visit is not null && !visit(parent, dir, created.Value)))
            {
                missing = dir;
                return false;
            }
        }
        return true;
    }

    /// <summary>True when made, false when it existed, null when its parent does not exist (any more).</summary>
    private static bool? Mkdir(string dir)
    {
        if (Libc.Mkdir(dir, 0x1ed /* 0755 */) == 0) return true;
        int errno = Errno.Last;
        if (errno == Libc.EEXIST) return false;
        if (errno == Libc.ENOENT) return null;
        throw new CgroupException($"create cgroup: mkdir {dir}: {Errno.Describe(errno)}", new ErrnoException($"mkdir {dir}", errno));
    }

    /// <summary>Removes dir and any child cgroups, deepest first, retrying EBUSY until the deadline (processes
    /// that were just killed leave the cgroup a moment later). Returns the error, or null; ENOENT is success.</summary>
    public static string? RemoveTree(string dir, long deadlineTicks)
    {
        // A container's cgroup rarely has children: try the directory itself before listing it.
        if (Libc.Rmdir(dir) == 0) return null;
        int first = Errno.Last;
        if (first == Libc.ENOENT) return null;
        string? error = null;
        if (first == Libc.EBUSY || first == Libc.ENOTEMPTY)
        {
            try
            {
                foreach (string child in Directory.EnumerateDirectories(dir))
                {
                    error ??= RemoveTree(child, deadlineTicks);
                }
            }
            catch (DirectoryNotFoundException)
            {
                return null;
            }
        }
        while (true)
        {
            if (Libc.Rmdir(dir) == 0) return error;
            int errno = Errno.Last;
            if (errno == Libc.ENOENT) return error;
            if ((errno == Libc.EBUSY || errno == Libc.ENOTEMPTY || errno == Libc.EINTR) && Stopwatch.GetTimestamp() < deadlineTicks)
            {
                Thread.Sleep(10);
                continue;
            }
            return error ?? $"rmdir {dir}: {Errno.Describe(errno)}";
        }
    }

    /// <summary>Removes the now-empty parents of path strictly below /csrun (the ones csrun created for
    /// nested cgroupsPath values); a parent that still has children stays.</summary>
    public static void RemoveEmptyParents(string mount, string path)
    {
        if (!CgroupPaths.IsUnderPrefix(path)) return;
        string p = path;
        while (true)
        {
            int slash = p.LastIndexOf('/');
            if (slash <= CgroupPaths.Prefix.Length) return;
            p = p[..slash];
            if (Libc.Rmdir(mount + p) < 0 && Errno.Last != Libc.ENOENT) return;
        }
    }

    public static long Deadline(TimeSpan after) => Stopwatch.GetTimestamp() + (long)(after.TotalSeconds * Stopwatch.Frequency);

    /// <summary>cgroup.procs of dir and every descendant.</summary>
    public static void CollectPids(string dir, List<int> pids)
    {
        CgroupFile.ReadPids(dir + "/cgroup.procs", pids);
        try
        {
            foreach (string child in Directory.EnumerateDirectories(dir)) CollectPids(child, pids);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>Writes pid to dir/cgroup.procs.</summary>
    public static void Join(string dir, int pid)
    {
        Span<byte> buf = stackalloc byte[12];
        pid.TryFormat(buf, out int n, default, System.Globalization.CultureInfo.InvariantCulture);
        int errno = CgroupFile.TryWrite(dir + "/cgroup.procs", buf[..n]);
        if (errno != 0)
            throw new CgroupException($"join cgroup: write {dir}/cgroup.procs: {Errno.Describe(errno)}", new ErrnoException($"write {dir}/cgroup.procs", errno));
    }
}
