using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Cgroups.V1;

/// <summary>A container cgroup on cgroup v1: one directory per mounted hierarchy (named ones such as
/// name=systemd included, as runc does), all at the same path.</summary>
public sealed partial class CgroupV1Manager : ICgroupManager, IResourceWriter
{
    private readonly V1Hierarchy[] _hierarchies;
    private readonly string[] _dirs;
    private readonly string[] _joinPaths;
    private SafeFd[]? _joinFds;
    private CgroupJoinFile[]? _joinFiles;

    public CgroupV1Manager(IReadOnlyList<V1Hierarchy> hierarchies, string path)
    {
        Path = path;
        _hierarchies = [.. hierarchies];
        _dirs = new string[_hierarchies.Length];
        for (int i = 0; i < _dirs.Length; i++) _dirs[i] = _hierarchies[i].MountPoint + path;
        _joinPaths = Array.ConvertAll(_dirs, d => d + "/tasks");
    }

    public string Path { get; }

    public int CloneIntoCgroupFd => -1;

    /// <summary>The directory for a v1 controller ("memory", "name=systemd"), or null if not mounted.</summary>
    public string? DirectoryOf(string controller)
    {
        for (int i = 0; i < _hierarchies.Length; i++)
        {
            if (_hierarchies[i].Has(controller)) return _dirs[i];
        }
        return null;
    }

    public IReadOnlyList<string> Directories => _dirs;

    public void Create()
    {
        for (int i = 0; i < _hierarchies.Length; i++)
        {
            // A new cpuset cgroup starts with empty cpus/mems and refuses tasks (ENOSPC) until they are filled.
            Func<string, string, bool, bool>? visit = _hierarchies[i].Has("cpuset") ? InheritCpuset : null;
            CgroupDirs.Create(_hierarchies[i].MountPoint, Path, null, visit);
        }
    }

    public void CreateForClone()
    {
    }

    public IReadOnlyList<string> SelfJoinPaths => _joinPaths;

    /// <summary>False when dir (or its parent) vanished meanwhile: a sibling's delete removed it while still empty;
    /// or when dir was just made under a parent with nothing to copy yet (made a moment ago by another csrun, or
    /// left empty by someone else): the walk from the top then fills the parent first.</summary>
    private static bool InheritCpuset(string parent, string dir, bool created)
    {
        foreach (string file in (ReadOnlySpan<string>)["cpuset.cpus", "cpuset.mems"])
        {
            // A directory just made is empty (unless the parent has cgroup.clone_children, which copying keeps right).
            string? own = created ? null : CgroupFile.TryRead(dir + "/" + file);
            if (own is not null && own.AsSpan().Trim().Length > 0) continue;
            // ENOENT, or ENODEV for a cgroup removed between open and read/write: gone; anything else is an error.
            string source = parent + "/" + file;
            byte[]? bytes = CgroupFile.TryReadBytes(source, out int length, out int errno);
            if (bytes is null)
            {
                if (errno is Libc.ENOENT or Libc.ENODEV) return false;
                throw CgroupFile.ReadError("create cgroup", source, errno);
            }
            ReadOnlySpan<byte> value = bytes.AsSpan(0, length).Trim(" \n\t"u8);
            if (value.IsEmpty)
            {
                if (created) return false;
                continue;
            }
            string path = dir + "/" + file;
            errno = CgroupFile.TryWrite(path, value);
            if (errno is Libc.ENOENT or Libc.ENODEV) return false;
            if (errno != 0) throw CgroupFile.WriteError("create cgroup", path, errno);
        }
        return true;
    }

    public IReadOnlyList<CgroupJoinFile> SelfJoinFiles
    {
        get
        {
            if (_joinFiles is not null) return _joinFiles;
            var files = new CgroupJoinFile[_dirs.Length];
            var fds = new SafeFd[_dirs.Length];
            for (int i = 0; i < _dirs.Length; i++)
            {
                string path = _joinPaths[i];
                SafeFd? fd = SafeFd.TryOpen(path, Libc.O_WRONLY | Libc.O_CLOEXEC, out int errno);
                if (fd is null)
                {
                    for (int j = 0; j < i; j++) fds[j].Dispose();
                    throw new CgroupException($"join cgroup: open {path}: {Errno.Describe(errno)}", new ErrnoException($"open {path}", errno));
                }
                fds[i] = fd;
                files[i] = new CgroupJoinFile(fd.Fd, path);
            }
            _joinFds = fds;
            return _joinFiles = files;
        }
    }

    public void Apply(int pid, CgroupJoined joined = CgroupJoined.None)
    {
        if ((joined & CgroupJoined.V1) != 0) return;
        foreach (string dir in _dirs) CgroupDirs.Join(dir, pid);
    }

    public void Set(LinuxResources resources) => ResourceRouter.Set(resources, this, null);

    public void Freeze()
    {
        string dir = FreezerDir();
        long deadline = CgroupDirs.Deadline(TimeSpan.FromSeconds(5));
        int sleepMs = 1;
        while (true)
        {
            // Writing FROZEN again nudges tasks that were forking while the freeze started.
            CgroupFile.Write(dir, "freezer.state", "FROZEN"u8, "freeze");
            if (ReadState(dir) == "FROZEN") return;
            if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline)
            {
                CgroupFile.Write(dir, "freezer.state", "THAWED"u8, "thaw");
                throw new CgroupException($"freeze: {dir} did not reach FROZEN in time");
            }
            Thread.Sleep(sleepMs);
            sleepMs = Math.Min(sleepMs * 2, 10);
        }
    }

    public void Thaw()
    {
        string dir = FreezerDir();
        CgroupFile.Write(dir, "freezer.state", "THAWED"u8, "thaw");
        for (int i = 0; i < 1000 && ReadState(dir) != "THAWED"; i++) Thread.Sleep(1);
    }

    public bool IsFrozen() => ReadState(FreezerDir()) == "FROZEN";

    private static string ReadState(string dir) => CgroupFile.Read(dir + "/freezer.state", "freezer state").Trim();

    private string FreezerDir() =>
        DirectoryOf("freezer") ?? throw new CgroupException("the freezer cgroup controller is not available on this host");

    public IReadOnlyList<int> GetPids()
    {
        var pids = new List<int>();
        string? dir = DirectoryOf("pids") ?? DirectoryOf("memory") ?? (_dirs.Length > 0 ? _dirs[0] : null);
        if (dir is not null) CgroupDirs.CollectPids(dir, pids);
        return pids;
    }

    public void Destroy()
    {
        long deadline = CgroupDirs.Deadline(TimeSpan.FromSeconds(1));
        string? error = null;
        for (int i = 0; i < _dirs.Length; i++)
        {
            string? e = CgroupDirs.RemoveTree(_dirs[i], deadline);
            if (e is null) CgroupDirs.RemoveEmptyParents(_hierarchies[i].MountPoint, Path);
            error ??= e;
        }
        if (error is not null) throw new CgroupException("destroy cgroup: " + error);
    }

    public CgroupStats GetStats()
    {
        var s = new CgroupStats();
        if (DirectoryOf("memory") is { } mem)
        {
            s.MemoryUsageBytes = Unsigned(CgroupFile.TryReadLong(mem + "/memory.usage_in_bytes"));
            s.MemoryMaxUsageBytes = Unsigned(CgroupFile.TryReadLong(mem + "/memory.max_usage_in_bytes"));
            s.MemoryLimitBytes = Limit(CgroupFile.TryReadLong(mem + "/memory.limit_in_bytes"));
            long? memsw = CgroupFile.TryReadLong(mem + "/memory.memsw.usage_in_bytes");
            if (memsw is not null && s.MemoryUsageBytes is not null) s.SwapUsageBytes = (ulong)Math.Max(0, memsw.Value - (long)s.MemoryUsageBytes.Value);
            s.OomKills = CgroupStats.KeyedValue(CgroupFile.TryRead(mem + "/memory.oom_control"), "oom_kill");
            string? stat = CgroupFile.TryRead(mem + "/memory.stat");
            s.MemoryInactiveFileBytes = CgroupStats.KeyedValue(stat, "total_inactive_file");
            s.MemoryRssBytes = CgroupStats.KeyedValue(stat, "total_rss");
            s.PageFaults = CgroupStats.KeyedValue(stat, "total_pgfault");
            s.MajorPageFaults = CgroupStats.KeyedValue(stat, "total_pgmajfault");
        }
        if (DirectoryOf("cpuacct") is { } acct) s.CpuUsageNanoseconds = Unsigned(CgroupFile.TryReadLong(acct + "/cpuacct.usage"));
        if (DirectoryOf("pids") is { } pids)
        {
            s.PidsCurrent = Unsigned(CgroupFile.TryReadLong(pids + "/pids.current"));
            s.PidsLimit = Limit(CgroupFile.TryReadLong(pids + "/pids.max"));
        }
        return s;
    }

    private static ulong? Unsigned(long? v) => v is >= 0 ? (ulong)v.Value : null;

    // v1 reports "unlimited" as the largest page-aligned long.
    private static ulong? Limit(long? v) => v is >= 0 and < (1L << 62) ? (ulong)v.Value : null;

    public void Dispose()
    {
        if (_joinFds is not null)
        {
            foreach (var fd in _joinFds) fd.Dispose();
        }
        _joinFds = null;
        _joinFiles = null;
    }
}
