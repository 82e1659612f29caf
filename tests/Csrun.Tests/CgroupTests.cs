using Csrun.Oci;

namespace Csrun.Tests;

/// <summary>Resource limits as the container reads them from its own cgroup files, on whatever hierarchy the host has.</summary>
public class CgroupTests
{
    private static bool V2Only => File.Exists("/sys/fs/cgroup/cgroup.controllers");

    [Fact]
    public void Memory_cpu_pids_limits_are_visible_inside()
    {
        using var sb = new Sandbox();
        string bundle = sb.Bundle(s =>
        {
            s.Linux!.Resources!.Memory = new LinuxMemory { Limit = 64L << 20, Reservation = 32L << 20, Swap = 128L << 20 };
            s.Linux.Resources.Cpu = new LinuxCpu { Shares = 512, Quota = 50000, Period = 100000, Cpus = "0", Mems = "0" };
            s.Linux.Resources.Pids = new LinuxPids { Limit = 42 };
        }, "sh", "-c", V2Only
            ? "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.low /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpuset.cpus; cat /proc/self/cgroup"
            : "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.soft_limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes " +
              "/sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpuset/cpuset.cpus; cat /proc/self/cgroup");
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (V2Only)
        {
            Assert.Equal(new[] { "67108864", "33554432", "50000 100000", "42", "0" }, lines[..5]);
        }
        else
        {
            Assert.Equal(new[] { "67108864", "33554432", "134217728", "512", "50000", "100000", "42", "0" }, lines[..8]);
        }
        // cgroup namespace: the container sees its own cgroup as the root.
        Assert.Contains(lines, l => l.EndsWith(":/") && l.Contains("memory") || l == "0::/");
    }

    [Fact]
    public void Cgroups_path_relative_goes_under_csrun_and_is_removed_on_delete()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        string rel = "tests/" + id;
        Assert.Equal(0, sb.Csrun("create", "--bundle", sb.Bundle(s => s.Linux!.CgroupsPath = rel, "sleep", "300"), id).ExitCode);
        var dirs = Leaks.CgroupDirs("csrun/" + rel);
        Assert.NotEmpty(dirs);
        string procs = File.ReadAllText(Path.Combine(dirs[0], "cgroup.procs"));
        int pid = System.Text.Json.JsonDocument.Parse(sb.Csrun("state", id).Stdout).RootElement.GetProperty("pid").GetInt32();
        Assert.Contains(pid.ToString(), procs.Split('\n'));
        // Every v1 hierarchy (and the unified one on hybrid hosts) holds the process.
        foreach (var line in File.ReadAllLines($"/proc/{pid}/cgroup"))
        {
            Assert.EndsWith("/csrun/" + rel, line);
        }
        Assert.Equal(0, sb.Csrun("delete", "--force", id).ExitCode);
        Assert.Empty(Leaks.CgroupDirs("csrun/" + rel));
    }

    [Fact]
    public void A_cpuset_parent_left_empty_is_filled_before_the_container_joins()
    {
        // The container's own level is made first (its parents exist in the common case). Under a v1 cpuset parent
        // with empty cpus/mems (made by someone else, or a moment ago by another csrun) there is nothing to copy:
        // csrun then walks from the top and fills every level, or the init could not join (ENOSPC).
        const string cpuset = "/sys/fs/cgroup/cpuset";
        Assert.True(Directory.Exists(cpuset + "/csrun"), $"{cpuset}/csrun missing: this test needs the v1 cpuset hierarchy");
        using var sb = new Sandbox();
        string id = sb.NewId();
        string parent = $"{cpuset}/csrun/tests-{id}";
        Directory.CreateDirectory(parent);
        try
        {
            Assert.Equal("", File.ReadAllText(parent + "/cpuset.cpus").Trim());
            var r = sb.RunContainer(sb.Bundle(s => s.Linux!.CgroupsPath = $"tests-{id}/c", "sh", "-c", "cat /sys/fs/cgroup/cpuset/cpuset.cpus"), id);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal(File.ReadAllText($"{cpuset}/csrun/cpuset.cpus").Trim(), r.Stdout.Trim());
            Assert.Empty(Leaks.CgroupDirs($"csrun/tests-{id}/c"));
        }
        finally
        {
            if (Directory.Exists(parent + "/c")) Directory.Delete(parent + "/c");
            if (Directory.Exists(parent)) Directory.Delete(parent);
        }
    }

    [Fact]
    public void Device_cgroup_denies_devices_not_allowed()
    {
        using var sb = new Sandbox();
        // Any node may be created (runc's default "c *:* m"), but only allowed devices may be opened:
        // /dev/kmsg (c 1:11) is a spec device and allowed, a hand-made /dev/mem2 (c 1:1) is not.
        string bundle = sb.Bundle(s =>
        {
            s.Linux!.Devices = [new LinuxDevice { Path = "/dev/kmsg", Type = "c", Major = 1, Minor = 11, FileMode = 0x1B6 }];
            s.Linux.Resources!.Devices = [new LinuxDeviceCgroup { Allow = false, Access = "rwm" }];
            foreach (var set in new[] { s.Process!.Capabilities!.Bounding!, s.Process.Capabilities.Effective!, s.Process.Capabilities.Permitted! }) set.Add("CAP_MKNOD");
        }, "sh", "-c", "mknod /dev/mem2 c 1 1; echo mknod=$?; head -c1 /dev/mem2 2>&1; echo mem=$?; head -c1 /dev/zero | wc -c; echo > /dev/kmsg; echo kmsg=$?");
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("mknod=0", r.Stdout);
        Assert.Contains("Operation not permitted", r.Stdout);
        Assert.Contains("mem=1", r.Stdout);
        Assert.Contains("\n1\n", r.Stdout);
        Assert.Contains("kmsg=0", r.Stdout);
    }

    [Fact]
    public void Invalid_resource_value_fails_clearly_and_leaves_nothing()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "--bundle", sb.Bundle(s => s.Linux!.Resources!.Cpu = new LinuxCpu { Cpus = "999" }), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("cpus", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }
}
