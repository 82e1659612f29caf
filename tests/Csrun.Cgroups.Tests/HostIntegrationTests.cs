using Csrun.Cgroups;
using Csrun.Oci;

namespace Csrun.Cgroups.Tests;

/// <summary>Real cgroups on this host through the factory (hybrid here: v1 controllers + unified hugetlb).</summary>
public class HostIntegrationTests
{
    private static readonly CgroupLayout L = CgroupLayout.Host;

    private static string V1Dir(string controller, string path) => L.FindV1(controller)!.MountPoint + path;

    private static string ReadV1(string controller, string path, string file) =>
        File.ReadAllText(V1Dir(controller, path) + "/" + file).Trim();

    private const long MiB = 1024 * 1024;

    [Fact]
    public void CreatesEveryHierarchyAndDestroyRemovesThem()
    {
        string path;
        var dirs = new List<string>();
        using (var cg = new TempCgroup())
        {
            path = cg.Path;
            foreach (var h in L.V1Hierarchies) dirs.Add(h.MountPoint + path);
            if (L.UnifiedMount is not null) dirs.Add(L.UnifiedMount + path);
            Assert.All(dirs, d => Assert.True(Directory.Exists(d), d));
            // A new v1 cpuset cgroup must have inherited cpus/mems or no task could join.
            if (L.FindV1("cpuset") is not null)
            {
                Assert.NotEqual("", ReadV1("cpuset", path, "cpuset.cpus"));
                Assert.NotEqual("", ReadV1("cpuset", path, "cpuset.mems"));
            }
            cg.Manager.Create();  // idempotent
        }
        Assert.All(dirs, d => Assert.False(Directory.Exists(d), d));
    }

    [Fact]
    public void SelfJoinFilesAreTheTasksFilesAndApplySkipsWhatIsJoined()
    {
        using var cg = new TempCgroup();
        var files = cg.Manager.SelfJoinFiles;
        Assert.Equal(L.V1Hierarchies.Count, files.Count);
        for (int i = 0; i < files.Count; i++)
        {
            Assert.Equal(L.V1Hierarchies[i].MountPoint + cg.Path + "/tasks", files[i].Path);
            Assert.Equal(files[i].Path, new FileInfo($"/proc/self/fd/{files[i].Fd}").LinkTarget);
        }
        Assert.Same(files, cg.Manager.SelfJoinFiles);  // opened once

        var p = cg.Start("sleep", "300");
        string pid = p.Id.ToString();
        bool InV1() => File.ReadAllLines(L.V1Hierarchies[0].MountPoint + cg.Path + "/cgroup.procs").Contains(pid);
        // The child said it joined its v1 cgroups itself: Apply must leave v1 alone (and place it in the unified tree).
        cg.Manager.Apply(p.Id, CgroupJoined.V1);
        Assert.False(InV1());
        if (L.UnifiedMount is not null)
            Assert.Contains(pid, File.ReadAllLines(L.UnifiedMount + cg.Path + "/cgroup.procs"));
        cg.Manager.Apply(p.Id);
        Assert.True(InV1());
    }

    [Fact]
    public void NestedPathRemovesIntermediateDirsButNotCsrun()
    {
        string parent = "/csrun/test-" + Guid.NewGuid().ToString("N")[..16];
        string path = parent + "/inner/leaf";
        var m = CgroupManager.Create(L, path);
        try
        {
            m.Create();
            Assert.True(Directory.Exists(V1Dir("memory", path)));
        }
        finally
        {
            m.Destroy();
            m.Dispose();
        }
        Assert.False(Directory.Exists(V1Dir("memory", parent)));
        Assert.True(Directory.Exists(V1Dir("memory", "/csrun")));
    }

    [Fact]
    public void CreateRacesTheDeleteOfASiblingThatRemovesTheSharedParent()
    {
        // Pods share csrun/pods: one pod's delete removes the parent it left empty while another pod's create
        // walks through it, so the create's mkdir of its own level can meet ENOENT.
        string parent = "/csrun/test-" + Guid.NewGuid().ToString("N")[..16];
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        void Churn(int worker)
        {
            for (int i = 0; i < 150; i++)
            {
                var m = CgroupManager.Create(L, $"{parent}/shared/leaf-{worker}-{i}");
                try
                {
                    m.Create();
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
                finally
                {
                    m.Destroy();
                    m.Dispose();
                }
            }
        }
        try
        {
            var threads = Enumerable.Range(0, 3).Select(w => new Thread(() => Churn(w))).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Assert.True(errors.IsEmpty, string.Join("\n", errors.Select(e => e.Message).Distinct()));
            Assert.False(Directory.Exists(V1Dir("memory", parent)));
        }
        finally
        {
            // Whatever a failed run left: Destroy removes the tree below parent, deepest first, in every hierarchy.
            using var rest = CgroupManager.Create(L, parent);
            rest.Destroy();
        }
    }

    [Fact]
    public void SetsMemoryInBothOrders()
    {
        using var cg = new TempCgroup();
        var m = cg.Manager;
        m.Set(new LinuxResources { Memory = new LinuxMemory { Limit = 64 * MiB, Swap = 128 * MiB, Reservation = 32 * MiB, Kernel = 16 * MiB } });
        Assert.Equal((64 * MiB).ToString(), ReadV1("memory", cg.Path, "memory.limit_in_bytes"));
        Assert.Equal((128 * MiB).ToString(), ReadV1("memory", cg.Path, "memory.memsw.limit_in_bytes"));
        Assert.Equal((32 * MiB).ToString(), ReadV1("memory", cg.Path, "memory.soft_limit_in_bytes"));

        // Lowering memsw below the current limit only works limit-first.
        m.Set(new LinuxResources { Memory = new LinuxMemory { Limit = 16 * MiB, Swap = 32 * MiB } });
        Assert.Equal((16 * MiB).ToString(), ReadV1("memory", cg.Path, "memory.limit_in_bytes"));
        Assert.Equal((32 * MiB).ToString(), ReadV1("memory", cg.Path, "memory.memsw.limit_in_bytes"));

        // Raising the limit above the current memsw only works memsw-first.
        m.Set(new LinuxResources { Memory = new LinuxMemory { Limit = 256 * MiB, Swap = 512 * MiB, Swappiness = 10, DisableOOMKiller = true, KernelTCP = 8 * MiB } });
        Assert.Equal((256 * MiB).ToString(), ReadV1("memory", cg.Path, "memory.limit_in_bytes"));
        Assert.Equal((512 * MiB).ToString(), ReadV1("memory", cg.Path, "memory.memsw.limit_in_bytes"));
        Assert.Equal("10", ReadV1("memory", cg.Path, "memory.swappiness"));
        Assert.Contains("oom_kill_disable 1", ReadV1("memory", cg.Path, "memory.oom_control"));
        Assert.Equal((8 * MiB).ToString(), ReadV1("memory", cg.Path, "memory.kmem.tcp.limit_in_bytes"));

        m.Set(new LinuxResources { Memory = new LinuxMemory { Limit = -1 } });
        Assert.True(long.Parse(ReadV1("memory", cg.Path, "memory.limit_in_bytes")) > (1L << 62));
        Assert.True(long.Parse(ReadV1("memory", cg.Path, "memory.memsw.limit_in_bytes")) > (1L << 62));
    }

    [Fact]
    public void MemoryErrorNamesFieldAndFile()
    {
        using var cg = new TempCgroup();
        var e = Assert.Throws<CgroupException>(() =>
            cg.Manager.Set(new LinuxResources { Memory = new LinuxMemory { Limit = 64 * MiB, Swap = 32 * MiB } }));
        Assert.StartsWith("linux.resources.memory.", e.Message);
        Assert.Contains(V1Dir("memory", cg.Path) + "/memory.", e.Message);
    }

    [Fact]
    public void SetsCpuCpusetAndPids()
    {
        using var cg = new TempCgroup();
        cg.Manager.Set(new LinuxResources
        {
            Cpu = new LinuxCpu { Shares = 512, Quota = 50000, Period = 100000, Cpus = "0", Mems = "0", Burst = 1000 },
            Pids = new LinuxPids { Limit = 42 },
        });
        Assert.Equal("512", ReadV1("cpu", cg.Path, "cpu.shares"));
        Assert.Equal("50000", ReadV1("cpu", cg.Path, "cpu.cfs_quota_us"));
        Assert.Equal("100000", ReadV1("cpu", cg.Path, "cpu.cfs_period_us"));
        Assert.Equal("1000", ReadV1("cpu", cg.Path, "cpu.cfs_burst_us"));
        Assert.Equal("0", ReadV1("cpuset", cg.Path, "cpuset.cpus"));
        Assert.Equal("0", ReadV1("cpuset", cg.Path, "cpuset.mems"));
        Assert.Equal("42", ReadV1("pids", cg.Path, "pids.max"));

        // A shorter period with a new quota; then unlimited quota and pids.
        cg.Manager.Set(new LinuxResources { Cpu = new LinuxCpu { Quota = 5000, Period = 10000 }, Pids = new LinuxPids { Limit = 0 } });
        Assert.Equal("5000", ReadV1("cpu", cg.Path, "cpu.cfs_quota_us"));
        Assert.Equal("10000", ReadV1("cpu", cg.Path, "cpu.cfs_period_us"));
        Assert.Equal("max", ReadV1("pids", cg.Path, "pids.max"));
        cg.Manager.Set(new LinuxResources { Cpu = new LinuxCpu { Quota = -1 } });
        Assert.Equal("-1", ReadV1("cpu", cg.Path, "cpu.cfs_quota_us"));
    }

    [Fact]
    public void SetsBlkioWeightWhenTheSchedulerOffersOne()
    {
        using var cg = new TempCgroup();
        string dir = V1Dir("blkio", cg.Path);
        var res = new LinuxResources { BlockIO = new LinuxBlockIo { Weight = 500 } };
        string? file = File.Exists(dir + "/blkio.weight") ? "blkio.weight" : File.Exists(dir + "/blkio.bfq.weight") ? "blkio.bfq.weight" : null;
        if (file is null)
        {
            var e = Assert.Throws<CgroupException>(() => cg.Manager.Set(res));
            Assert.Contains("linux.resources.blockIO.weight", e.Message);
            return;
        }
        cg.Manager.Set(res);
        Assert.Contains("500", File.ReadAllText(dir + "/" + file));
    }

    [Fact]
    public void SetsBlkioThrottle()
    {
        using var cg = new TempCgroup();
        var st = File.ReadAllText("/sys/block/vda/dev").Trim().Split(':');
        long major = long.Parse(st[0]), minor = long.Parse(st[1]);
        cg.Manager.Set(new LinuxResources
        {
            BlockIO = new LinuxBlockIo { ThrottleReadBpsDevice = [new LinuxThrottleDevice { Major = major, Minor = minor, Rate = 1048576 }] },
        });
        Assert.Contains($"{major}:{minor} 1048576", File.ReadAllText(V1Dir("blkio", cg.Path) + "/blkio.throttle.read_bps_device"));
    }

    [Fact]
    public void SetsV1DeviceRules()
    {
        using var cg = new TempCgroup();
        cg.Manager.Set(new LinuxResources
        {
            Devices =
            [
                new LinuxDeviceCgroup { Allow = false, Access = "rwm" },
                new LinuxDeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" },
                new LinuxDeviceCgroup { Allow = true, Type = "c", Access = "m" },
                new LinuxDeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 5, Access = "r" },
            ],
        });
        var lines = ReadV1("devices", cg.Path, "devices.list").Split('\n').Order().ToArray();
        Assert.Equal(["c *:* m", "c 1:3 rwm", "c 1:5 r"], lines);

        // Back to allow-all.
        cg.Manager.Set(new LinuxResources { Devices = [new LinuxDeviceCgroup { Allow = true, Access = "rwm" }] });
        Assert.Equal("a *:* rwm", ReadV1("devices", cg.Path, "devices.list"));
    }

    [Fact]
    public void HugetlbGoesToTheUnifiedTree()
    {
        Assert.True(L.UnifiedHas("hugetlb") || L.FindV1("hugetlb") is not null, "this host offers hugetlb");
        using var cg = new TempCgroup();
        cg.Manager.Set(new LinuxResources { HugepageLimits = [new LinuxHugepageLimit { PageSize = "2MB", Limit = 8 * MiB }] });
        string file = L.FindV1("hugetlb") is { } h ? h.MountPoint + cg.Path + "/hugetlb.2MB.limit_in_bytes" : L.UnifiedMount + cg.Path + "/hugetlb.2MB.max";
        Assert.Equal((8 * MiB).ToString(), File.ReadAllText(file).Trim());

        var e = Assert.Throws<CgroupException>(() =>
            cg.Manager.Set(new LinuxResources { HugepageLimits = [new LinuxHugepageLimit { PageSize = "3MB", Limit = 1 }] }));
        Assert.Contains("linux.resources.hugepageLimits[0].pageSize", e.Message);
        e = Assert.Throws<CgroupException>(() =>
            cg.Manager.Set(new LinuxResources { HugepageLimits = [new LinuxHugepageLimit { PageSize = "../x", Limit = 1 }] }));
        Assert.Contains("invalid page size", e.Message);
    }

    [Fact]
    public void UnifiedKeysOnTheHybridTree()
    {
        Assert.Equal(CgroupMode.Hybrid, L.Mode);
        using var cg = new TempCgroup();
        cg.Manager.Set(new LinuxResources { Unified = new() { ["hugetlb.2MB.max"] = (4 * MiB).ToString() } });
        Assert.Equal((4 * MiB).ToString(), File.ReadAllText(L.UnifiedMount + cg.Path + "/hugetlb.2MB.max").Trim());
        var e = Assert.Throws<CgroupException>(() => cg.Manager.Set(new LinuxResources { Unified = new() { ["memory.max"] = "1" } }));
        Assert.Contains("linux.resources.unified[memory.max]", e.Message);
        Assert.Contains("memory controller is not available", e.Message);
        e = Assert.Throws<CgroupException>(() => cg.Manager.Set(new LinuxResources { Unified = new() { ["../cgroup.procs"] = "1" } }));
        Assert.Contains("invalid cgroup file name", e.Message);
    }

    [Fact]
    public void AbsentControllerIsNamed()
    {
        Assert.Null(L.FindV1("net_cls"));
        using var cg = new TempCgroup();
        var e = Assert.Throws<CgroupException>(() => cg.Manager.Set(new LinuxResources { Network = new LinuxNetwork { ClassID = 0x100001 } }));
        Assert.Contains("net_cls", e.Message);
        Assert.Contains("linux.resources.network.classID", e.Message);
        e = Assert.Throws<CgroupException>(() => cg.Manager.Set(new LinuxResources { Rdma = new() { ["mlx5_0"] = new LinuxRdma { HcaHandles = 1 } } }));
        Assert.Contains("rdma", e.Message);
    }

    [Fact]
    public void BadCpusetNamesTheFieldAndLeavesNothingBehind()
    {
        string path;
        using (var cg = new TempCgroup())
        {
            path = cg.Path;
            var e = Assert.Throws<CgroupException>(() => cg.Manager.Set(new LinuxResources { Cpu = new LinuxCpu { Cpus = "999" } }));
            Assert.StartsWith("linux.resources.cpu.cpus: write " + V1Dir("cpuset", path) + "/cpuset.cpus: ", e.Message);
        }
        foreach (var h in L.V1Hierarchies) Assert.False(Directory.Exists(h.MountPoint + path));
        Assert.False(Directory.Exists(L.UnifiedMount + path));
    }

    [Fact]
    public void AppliesFreezesThawsAndCountsAProcess()
    {
        using var cg = new TempCgroup();
        var p = cg.Start("sleep", "30");
        cg.Manager.Apply(p.Id);

        string[] lines = File.ReadAllLines($"/proc/{p.Id}/cgroup");
        foreach (var h in L.V1Hierarchies)
        {
            string ctrls = string.Join(',', h.Controllers);
            Assert.Contains(lines, l => l.EndsWith(":" + ctrls + ":" + cg.Path, StringComparison.Ordinal));
        }
        Assert.Contains("0::" + cg.Path, lines);
        Assert.Equal([p.Id], cg.Manager.GetPids());

        cg.Manager.Freeze();
        Assert.True(cg.Manager.IsFrozen());
        Assert.Equal("FROZEN", ReadV1("freezer", cg.Path, "freezer.state"));
        cg.Manager.Thaw();
        Assert.False(cg.Manager.IsFrozen());
        Assert.Equal("THAWED", ReadV1("freezer", cg.Path, "freezer.state"));
        Assert.False(p.HasExited);

        var stats = cg.Manager.GetStats();
        Assert.Equal(1UL, stats.PidsCurrent);
        Assert.NotNull(stats.MemoryUsageBytes);  // v1 does not move existing charges, so it may be 0
        Assert.NotNull(stats.CpuUsageNanoseconds);

        p.Kill();
        p.WaitForExit();
    }

    [Fact]
    public void DestroyRightAfterKillRetriesUntilTheCgroupEmpties()
    {
        string path;
        using (var cg = new TempCgroup())
        {
            path = cg.Path;
            var procs = Enumerable.Range(0, 3).Select(_ => cg.Start("sleep", "30")).ToList();
            foreach (var p in procs) cg.Manager.Apply(p.Id);
            Assert.Equal(3, cg.Manager.GetPids().Count);
            foreach (var p in procs) p.Kill();
            cg.Manager.Destroy();  // no wait: the kernel may still report EBUSY for a moment
        }
        foreach (var h in L.V1Hierarchies) Assert.False(Directory.Exists(h.MountPoint + path));
    }

    [Fact]
    public void CloneIntoCgroupFdIsTheUnifiedDirectory()
    {
        using var cg = new TempCgroup();
        int fd = cg.Manager.CloneIntoCgroupFd;
        Assert.True(fd >= 0);
        string target = new FileInfo($"/proc/self/fd/{fd}").LinkTarget!;
        Assert.Equal(L.UnifiedMount + cg.Path, target);
    }
}
