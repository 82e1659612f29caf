using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Cgroups.V2;

/// <summary>A container cgroup in a cgroup v2 (unified) hierarchy: one directory, controllers enabled
/// top-down through the parents' cgroup.subtree_control.</summary>
public sealed partial class CgroupV2Manager : ICgroupManager, IResourceWriter
{
    private readonly string _mount;
    private SafeFd? _dirFd;
    private string[]? _controllers;

    public CgroupV2Manager(string mountPoint, string path)
    {
        _mount = mountPoint;
        Path = path;
        Directory = mountPoint + path;
    }

    public string Path { get; }

    /// <summary>The cgroup's directory, e.g. /sys/fs/cgroup/csrun/abc.</summary>
    public string Directory { get; }

    public int CloneIntoCgroupFd
    {
        get
        {
            if (_dirFd is null)
            {
                _dirFd = SafeFd.TryOpen(Directory, Libc.O_PATH | Libc.O_DIRECTORY, out _);
                if (_dirFd is null) return -1;
            }
            return _dirFd.Fd;
        }
    }

    private bool _created;

    public void Create()
    {
        if (_created) return;
        CgroupDirs.Create(_mount, Path, EnableControllers, null);
        _controllers = null;
        _created = true;
    }

    // Everything on v2 is needed by the clone: CLONE_INTO_CGROUP places the child at once.
    public void CreateForClone() => Create();

    // Enables in dir's subtree_control every controller dir has, so each level below can use them. All at once
    // first (one write); if the kernel refuses the batch, one by one, skipping those it refuses — a Set that
    // needs one of them then reports the controller as missing.
    private static void EnableControllers(string dir)
    {
        string[] available = Split(CgroupFile.TryRead(dir + "/cgroup.controllers"));
        if (available.Length == 0) return;
        string[] enabled = Split(CgroupFile.TryRead(dir + "/cgroup.subtree_control"));
        var missing = new List<string>(available.Length);
        foreach (string c in available)
        {
            if (Array.IndexOf(enabled, c) < 0) missing.Add(c);
        }
        if (missing.Count == 0) return;
        string all = "+" + string.Join(" +", missing);
        if (CgroupFile.TryWrite(dir + "/cgroup.subtree_control", System.Text.Encoding.ASCII.GetBytes(all)) == 0) return;
        foreach (string c in missing) CgroupFile.TryWrite(dir + "/cgroup.subtree_control", System.Text.Encoding.ASCII.GetBytes("+" + c));
    }

    private static string[] Split(string? text) =>
        text is null ? [] : text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Controllers usable in this cgroup (its cgroup.controllers).</summary>
    public IReadOnlyList<string> Controllers => _controllers ??= Split(CgroupFile.TryRead(Directory + "/cgroup.controllers"));

    public bool HasController(string name) => Array.IndexOf((string[])Controllers, name) >= 0;

    // Self-joining is a v1 device: on v2, clone3 places the child (CloneIntoCgroupFd).
    public IReadOnlyList<CgroupJoinFile> SelfJoinFiles => [];

    public IReadOnlyList<string> SelfJoinPaths => [];

    public void Apply(int pid, CgroupJoined joined = CgroupJoined.None)
    {
        if ((joined & CgroupJoined.V2) == 0) CgroupDirs.Join(Directory, pid);
    }

    public void Set(LinuxResources resources) => ResourceRouter.Set(resources, null, this);

    public void Freeze() => SetFrozen(true);

    public void Thaw() => SetFrozen(false);

    private void SetFrozen(bool frozen)
    {
        string op = frozen ? "freeze" : "thaw";
        CgroupFile.Write(Directory, "cgroup.freeze", frozen ? "1"u8 : "0"u8, op);
        long deadline = CgroupDirs.Deadline(TimeSpan.FromSeconds(5));
        int sleepMs = 1;
        // cgroup.freeze is the request; cgroup.events "frozen" says when every task has actually stopped.
        while (IsFrozen() != frozen)
        {
            if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline)
            {
                if (frozen) CgroupFile.TryWrite(Directory + "/cgroup.freeze", "0"u8);
                throw new CgroupException($"{op}: {Directory} did not become {(frozen ? "frozen" : "thawed")} in time");
            }
            Thread.Sleep(sleepMs);
            sleepMs = Math.Min(sleepMs * 2, 10);
        }
    }

    public bool IsFrozen()
    {
        string events = CgroupFile.Read(Directory + "/cgroup.events", "freezer state");
        foreach (var line in events.AsSpan().EnumerateLines())
        {
            if (line.StartsWith("frozen ")) return line[7..].Trim().SequenceEqual("1");
        }
        // Kernels before 5.2 have no v2 freezer.
        throw new CgroupException($"freezer state: {Directory}/cgroup.events has no \"frozen\" key (cgroup v2 freezer needs Linux 5.2+)");
    }

    public IReadOnlyList<int> GetPids()
    {
        var pids = new List<int>();
        CgroupDirs.CollectPids(Directory, pids);
        return pids;
    }

    public void Destroy()
    {
        _dirFd?.Dispose();
        _dirFd = null;
        string? error = CgroupDirs.RemoveTree(Directory, CgroupDirs.Deadline(TimeSpan.FromSeconds(1)));
        if (error is not null) throw new CgroupException("destroy cgroup: " + error);
        CgroupDirs.RemoveEmptyParents(_mount, Path);
    }

    public CgroupStats GetStats()
    {
        var s = new CgroupStats
        {
            MemoryUsageBytes = Unsigned(CgroupFile.TryReadLong(Directory + "/memory.current")),
            MemoryMaxUsageBytes = Unsigned(CgroupFile.TryReadLong(Directory + "/memory.peak")),
            MemoryLimitBytes = Unsigned(CgroupFile.TryReadLong(Directory + "/memory.max")),
            SwapUsageBytes = Unsigned(CgroupFile.TryReadLong(Directory + "/memory.swap.current")),
            PidsCurrent = Unsigned(CgroupFile.TryReadLong(Directory + "/pids.current")),
            PidsLimit = Unsigned(CgroupFile.TryReadLong(Directory + "/pids.max")),
        };
        s.OomKills = CgroupStats.KeyedValue(CgroupFile.TryRead(Directory + "/memory.events"), "oom_kill");
        string? mstat = CgroupFile.TryRead(Directory + "/memory.stat");
        s.MemoryInactiveFileBytes = CgroupStats.KeyedValue(mstat, "inactive_file");
        s.MemoryRssBytes = CgroupStats.KeyedValue(mstat, "anon");
        s.PageFaults = CgroupStats.KeyedValue(mstat, "pgfault");
        s.MajorPageFaults = CgroupStats.KeyedValue(mstat, "pgmajfault");
        // cpu.stat exists without the cpu controller too; usage_usec is always in it.
        if (CgroupFile.TryRead(Directory + "/cpu.stat") is { } stat)
        {
            foreach (var line in stat.AsSpan().EnumerateLines())
            {
                if (line.StartsWith("usage_usec ") && ulong.TryParse(line[11..], out ulong us)) s.CpuUsageNanoseconds = us * 1000;
            }
        }
        return s;
    }

    // "max" reads as -1: unlimited → null.
    private static ulong? Unsigned(long? v) => v is >= 0 ? (ulong)v.Value : null;

    public void Dispose()
    {
        _dirFd?.Dispose();
        _dirFd = null;
    }
}
