using Csrun.Cgroups;
using Csrun.Cgroups.V2;
using Csrun.Oci;

namespace Csrun.Cgroups.Tests;

/// <summary>The cgroup v2 device eBPF program, on the unified tree of this host.</summary>
public class DeviceBpfTests
{
    private static TempCgroup NewV2() => new(path => new CgroupV2Manager(CgroupLayout.Host.UnifiedMount!, path));

    private static (string Out, string Err) RunInside(TempCgroup cg, string script)
    {
        string dir = CgroupLayout.Host.UnifiedMount + cg.Path;
        var p = cg.Start("sh", "-c", $"echo $$ > {dir}/cgroup.procs || exit 99; {script}");
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(5000));
        return (output, error);
    }

    [Fact]
    public void DeniesDevNullAllowsTheRest()
    {
        using var cg = NewV2();
        cg.Manager.Set(new LinuxResources
        {
            Devices =
            [
                new LinuxDeviceCgroup { Allow = true, Access = "rwm" },
                new LinuxDeviceCgroup { Allow = false, Type = "c", Major = 1, Minor = 3, Access = "rwm" },
            ],
        });
        var (o, e) = RunInside(cg, "exec 3</dev/zero && echo ZERO; cat /dev/null && echo OPENED");
        Assert.Contains("ZERO", o);
        Assert.DoesNotContain("OPENED", o);
        Assert.Contains("Operation not permitted", e);
    }

    [Fact]
    public void AllowListAndReplacement()
    {
        using var cg = NewV2();
        string dir = CgroupLayout.Host.UnifiedMount + cg.Path;
        cg.Manager.Set(new LinuxResources
        {
            Devices =
            [
                new LinuxDeviceCgroup { Allow = false, Access = "rwm" },
                new LinuxDeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 5, Access = "r" },
            ],
        });
        var (o, _) = RunInside(cg, "exec 3</dev/zero && echo READ; exec 4>/dev/zero && echo WRITE; exec 5</dev/null && echo NULL");
        Assert.Contains("READ", o);
        Assert.DoesNotContain("WRITE", o);
        Assert.DoesNotContain("NULL", o);
        Assert.Single(DeviceProgram.Attached(dir));

        // Set again: the old program is replaced, not stacked.
        cg.Manager.Set(new LinuxResources { Devices = [new LinuxDeviceCgroup { Allow = true, Access = "rwm" }] });
        Assert.Single(DeviceProgram.Attached(dir));
        (o, _) = RunInside(cg, "exec 4>/dev/zero && echo WRITE; exec 5</dev/null && echo NULL");
        Assert.Contains("WRITE", o);
        Assert.Contains("NULL", o);
    }

    [Fact]
    public void V2FreezeWithoutControllers()
    {
        using var cg = NewV2();
        var p = cg.Start("sleep", "30");
        cg.Manager.Apply(p.Id);
        cg.Manager.Freeze();
        Assert.True(cg.Manager.IsFrozen());
        cg.Manager.Thaw();
        Assert.False(cg.Manager.IsFrozen());
        Assert.Equal([p.Id], cg.Manager.GetPids());
        p.Kill();
        p.WaitForExit();
    }
}

/// <summary>The single-version managers used directly against this host's trees.</summary>
public class SingleVersionManagerTests
{
    [Fact]
    public void V2ManagerSetsWhatTheUnifiedTreeOffersAndNamesTheRest()
    {
        using var cg = new TempCgroup(path => new CgroupV2Manager(CgroupLayout.Host.UnifiedMount!, path));
        var m = (CgroupV2Manager)cg.Manager;
        Assert.Contains("hugetlb", m.Controllers);
        m.Set(new LinuxResources { HugepageLimits = [new LinuxHugepageLimit { PageSize = "2MB", Limit = 2 * 1024 * 1024 }] });
        Assert.Equal("2097152", File.ReadAllText(m.Directory + "/hugetlb.2MB.max").Trim());
        Assert.Equal("2097152", File.ReadAllText(m.Directory + "/hugetlb.2MB.rsvd.max").Trim());
        var e = Assert.Throws<CgroupException>(() => m.Set(new LinuxResources { Memory = new LinuxMemory { Limit = 1 << 26 } }));
        Assert.Equal("linux.resources.memory: the memory cgroup controller is not available on this host", e.Message);
        e = Assert.Throws<CgroupException>(() => m.Set(new LinuxResources { BlockIO = new LinuxBlockIo { Weight = 100 } }));
        Assert.Contains("the io cgroup controller", e.Message);
        Assert.NotNull(m.GetStats().CpuUsageNanoseconds);
    }

    [Fact]
    public void V1ManagerRefusesUnified()
    {
        using var cg = new TempCgroup(path => new Csrun.Cgroups.V1.CgroupV1Manager(CgroupLayout.Host.V1Hierarchies, path));
        Assert.Equal(-1, cg.Manager.CloneIntoCgroupFd);
        var e = Assert.Throws<CgroupException>(() => cg.Manager.Set(new LinuxResources { Unified = new() { ["pids.max"] = "1" } }));
        Assert.Contains("linux.resources.unified", e.Message);
    }
}
