using Csrun.Cgroups;

namespace Csrun.Cgroups.Tests;

public class LayoutTests
{
    private const string Hybrid = """
        22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """;

    private const string PureV2 = """
        25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
        30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        40 25 0:34 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
        """;

    private const string CoMounted = """
        25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
        27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
        30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
        31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
        32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
        33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
        34 25 0:31 / /sys/fs/cgroup/with\040space rw,relatime shared:18 - cgroup cgroup rw,release_agent=/x,pids
        35 25 0:29 / /mnt/memory-again rw,relatime - cgroup cgroup rw,memory
        """;

    [Fact]
    public void ParsesHybridHost()
    {
        var l = CgroupLayout.Parse(Hybrid, "hugetlb\n");
        Assert.Equal(CgroupMode.Hybrid, l.Mode);
        Assert.Equal(9, l.V1Hierarchies.Count);
        Assert.Equal("/sys/fs/cgroup/cpu", l.FindV1("cpu")!.MountPoint);
        Assert.Equal("/sys/fs/cgroup/cpuacct", l.FindV1("cpuacct")!.MountPoint);
        Assert.Equal(["cpu"], l.FindV1("cpu")!.Controllers);
        Assert.Equal("/sys/fs/cgroup/systemd", l.FindV1("name=systemd")!.MountPoint);
        Assert.Equal("/", l.FindV1("memory")!.Root);
        Assert.Null(l.FindV1("hugetlb"));
        Assert.Equal("/sys/fs/cgroup/unified", l.UnifiedMount);
        Assert.Equal(["hugetlb"], l.UnifiedControllers);
        Assert.True(l.UnifiedHas("hugetlb"));
    }

    [Fact]
    public void ParsesPureV2Host()
    {
        var l = CgroupLayout.Parse(PureV2, "cpuset cpu io memory hugetlb pids rdma misc\n");
        Assert.Equal(CgroupMode.Unified, l.Mode);
        Assert.Empty(l.V1Hierarchies);
        Assert.Equal("/sys/fs/cgroup", l.UnifiedMount);
        Assert.Equal(8, l.UnifiedControllers.Count);
        Assert.True(l.UnifiedHas("memory"));
    }

    [Fact]
    public void ParsesCoMountedControllersOptionsAndEscapes()
    {
        var l = CgroupLayout.Parse(CoMounted, "");
        Assert.Equal(CgroupMode.Hybrid, l.Mode);
        var cpu = l.FindV1("cpuacct")!;
        Assert.Same(cpu, l.FindV1("cpu"));
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", cpu.MountPoint);
        Assert.Equal(["cpu", "cpuacct"], cpu.Controllers);
        Assert.Equal(["name=systemd"], l.FindV1("name=systemd")!.Controllers);
        Assert.Equal(["cpuset"], l.FindV1("cpuset")!.Controllers);
        Assert.Equal("/sys/fs/cgroup/with space", l.FindV1("pids")!.MountPoint);
        Assert.Equal(["pids"], l.FindV1("pids")!.Controllers);
        Assert.Equal("/sys/fs/cgroup/memory", l.FindV1("memory")!.MountPoint);  // first mount wins
        Assert.Equal(6, l.V1Hierarchies.Count);
        Assert.Empty(l.UnifiedControllers);
    }

    [Fact]
    public void ListsEveryCgroupMountInOrderForTheContainersCgroupMount()
    {
        // A container's "cgroup" mount mirrors these (native/rootfs.c): every mount, a hierarchy mounted twice
        // included, with its super options, root and unescaped mount point.
        var l = CgroupLayout.Parse(CoMounted, "");
        Assert.Equal(8, l.Mounts.Count);
        Assert.Equal(new CgroupMount(null, "/", "/sys/fs/cgroup/unified"), l.Mounts[0]);
        Assert.Equal(new CgroupMount("rw,xattr,name=systemd", "/", "/sys/fs/cgroup/systemd"), l.Mounts[1]);
        Assert.Equal(new CgroupMount("rw,release_agent=/x,pids", "/", "/sys/fs/cgroup/with space"), l.Mounts[6]);
        Assert.Equal(new CgroupMount("rw,memory", "/", "/mnt/memory-again"), l.Mounts[7]);
        Assert.DoesNotContain(l.Mounts, m => m.MountPoint == "/sys/fs/cgroup");
    }

    [Fact]
    public void V1OnlyHost()
    {
        string text = string.Join('\n', CoMounted.Split('\n').Where(line => !line.Contains("cgroup2")));
        var l = CgroupLayout.Parse(text, null);
        Assert.Equal(CgroupMode.V1, l.Mode);
        Assert.Null(l.UnifiedMount);
    }

    [Fact]
    public void NoCgroupsIsAnError() =>
        Assert.Throws<CgroupException>(() => CgroupLayout.Parse("22 1 253:1 / / rw - ext4 /dev/vda rw\n", null));

    [Fact]
    public void DetectsThisHost()
    {
        var l = CgroupLayout.Detect();
        Assert.NotEmpty(l.V1Hierarchies.Concat<object>(l.UnifiedControllers).Append(l.Mode));
        if (Directory.Exists("/sys/fs/cgroup/memory")) Assert.NotNull(l.FindV1("memory"));
    }
}
