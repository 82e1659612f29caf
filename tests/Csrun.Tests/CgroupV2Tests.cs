using Csrun.Oci;

namespace Csrun.Tests;

/// <summary>
/// csrun on a pure cgroup v2 host. This VM is hybrid, so the test makes one: a private mount namespace whose
/// /sys/fs/cgroup is the cgroup2 hierarchy alone (the one the host mounts at /sys/fs/cgroup/unified, which
/// holds only hugetlb here). csrun must see v2 only: clone3 into the cgroup, the eBPF device filter, a
/// cgroup2 mount inside, hugetlb limits, and nothing written to the v1 hierarchies.
/// </summary>
public class CgroupV2Tests
{
    private static ProcResult InV2Namespace(Sandbox sb, params string[] csrunArgs)
    {
        string script = "umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\"";
        return Sandbox.Run("unshare", ["-m", "--propagation", "private", "sh", "-c", script, "sh", TestEnv.CsrunBinary, "--root", sb.Root, .. csrunArgs], TimeSpan.FromSeconds(60));
    }

    [Fact]
    public void Runs_on_a_pure_v2_host_with_device_filter_and_hugetlb()
    {
        using var sb = new Sandbox();
        Assert.True(File.Exists("/sys/fs/cgroup/unified/cgroup.controllers") || File.Exists("/sys/fs/cgroup/cgroup.controllers"),
            "needs a cgroup2 hierarchy (hybrid /sys/fs/cgroup/unified or pure v2)");
        string id = sb.NewId();
        string bundle = sb.Bundle(s =>
        {
            s.Linux!.Resources!.HugepageLimits = [new LinuxHugepageLimit { PageSize = "2MB", Limit = 4 << 21 }];
            foreach (var set in new[] { s.Process!.Capabilities!.Bounding!, s.Process.Capabilities.Effective!, s.Process.Capabilities.Permitted! }) set.Add("CAP_MKNOD");
        }, "sh", "-c",
            "awk '$5 == \"/sys/fs/cgroup\" { for (i = 7; $i != \"-\"; i++) ; print $(i + 1) }' /proc/self/mountinfo; grep '^0::' /proc/self/cgroup; cat /sys/fs/cgroup/hugetlb.2MB.max; " +
            "mknod /dev/m c 1 1; head -c1 /dev/m 2>&1; head -c1 /dev/zero | wc -c; true");
        var r = InV2Namespace(sb, "run", "--bundle", bundle, id);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("cgroup2", lines[0]);
        Assert.Equal("0::/", lines[1]);
        Assert.Equal((4 << 21).ToString(), lines[2]);
        Assert.Contains("Operation not permitted", r.Stdout);
        Assert.Equal("1", lines[^1].Trim());
        // Nothing of it on the v1 hierarchies, and nothing left anywhere.
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Created_container_lives_in_the_v2_cgroup_only()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var c = InV2Namespace(sb, "create", "--bundle", sb.Bundle(null, "sleep", "300"), id);
        Assert.True(c.ExitCode == 0, c.ToString());
        try
        {
            string v2 = File.Exists("/sys/fs/cgroup/unified/cgroup.controllers") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
            string procs = File.ReadAllText($"{v2}/csrun/{id}/cgroup.procs").Trim();
            Assert.NotEmpty(procs);
            if (v2 != "/sys/fs/cgroup") Assert.False(Directory.Exists($"/sys/fs/cgroup/memory/csrun/{id}"), "v1 cgroup created on a v2-only view");
        }
        finally
        {
            var d = InV2Namespace(sb, "delete", "--force", id);
            Assert.True(d.ExitCode == 0, d.ToString());
        }
        Leaks.AssertNothingLeft(sb, id);
    }
}
