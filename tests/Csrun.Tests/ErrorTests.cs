using Csrun.Oci;

namespace Csrun.Tests;

/// <summary>Bad input: a clear message naming the field or path, a non-zero exit, and nothing left behind.</summary>
public class ErrorTests
{
    [Fact]
    public void Missing_config_json()
    {
        using var sb = new Sandbox();
        string bundle = sb.Bundle();
        File.Delete(Path.Combine(bundle, "config.json"));
        Leaks.AssertRunFails(sb, bundle, "config.json", "does not exist");
    }

    [Fact]
    public void Wrong_type_names_the_field()
    {
        using var sb = new Sandbox();
        string bundle = sb.Bundle();
        File.WriteAllText(Path.Combine(bundle, "config.json"), File.ReadAllText(Path.Combine(bundle, "config.json"))
            .Replace("\"args\": [\n      \"true\"\n    ]", "\"args\": \"true\""));
        Assert.Contains("\"args\": \"true\"", File.ReadAllText(Path.Combine(bundle, "config.json")));
        Leaks.AssertRunFails(sb, bundle, "process.args");
    }

    [Fact]
    public void Malformed_json()
    {
        using var sb = new Sandbox();
        string bundle = sb.Bundle();
        File.WriteAllText(Path.Combine(bundle, "config.json"), "{ \"ociVersion\": ");
        Leaks.AssertRunFails(sb, bundle, "config.json", "invalid JSON");
    }

    [Fact]
    public void Unknown_namespace()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Linux!.Namespaces!.Add(new LinuxNamespace { Type = "bogus" })), "linux.namespaces[6].type", "bogus");
    }

    [Fact]
    public void Missing_namespace_path()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s =>
        {
            s.Linux!.Namespaces!.RemoveAll(n => n.Type == "network");
            s.Linux.Namespaces.Add(new LinuxNamespace { Type = "network", Path = "/run/netns/does-not-exist" });
        }), "linux.namespaces[5].path", "does not exist");
    }

    [Fact]
    public void Relative_mount_destination()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Mounts!.Add(new Mount { Destination = "relative/dir", Type = "tmpfs", Source = "tmpfs" })), "mounts[7].destination", "absolute");
    }

    [Fact]
    public void Missing_bind_source()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Mounts!.Add(new Mount { Destination = "/x", Type = "bind", Source = "/no/such/dir", Options = ["rbind"] })), "mounts[7].source", "/no/such/dir");
    }

    [Fact]
    public void Unknown_filesystem_type_fails_in_the_child_with_step_and_errno()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Mounts!.Add(new Mount { Destination = "/x", Type = "nosuchfs", Source = "none" })), "mount", "/x", "No such device");
    }

    [Fact]
    public void A_mount_before_the_cgroup_mount_fails_with_step_and_errno()
    {
        // Mounts ahead of the first cgroup mount are made while the runtime still finishes the cgroups, before
        // the init reads its resume. Failing first, the init is usually gone by the time the resume is sent
        // (the send meets a closed channel); its report, still queued, must be the error shown.
        using var sb = new Sandbox();
        string bundle = sb.Bundle(s =>
        {
            Assert.Contains(s.Mounts!, m => m.Type == "cgroup");
            s.Mounts!.Insert(0, new Mount { Destination = "/x", Type = "nosuchfs", Source = "none" });
        });
        for (int i = 0; i < 10; i++)
            Leaks.AssertRunFails(sb, bundle, "mount", "/x", "No such device");
    }

    [Fact]
    public void Missing_rootfs()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Root!.Path = "/no/such/rootfs"), "root.path", "/no/such/rootfs");
    }

    [Fact]
    public void Empty_args()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Process!.Args = []), "process.args");
    }

    [Fact]
    public void Unknown_rlimit()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Process!.Rlimits = [new PosixRlimit { Type = "RLIMIT_BOGUS", Soft = 1, Hard = 1 }]), "process.rlimits[0].type", "RLIMIT_BOGUS");
    }

    [Fact]
    public void Non_namespaced_sysctl_is_refused()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Linux!.Sysctl = new() { ["vm.swappiness"] = "10" }), "vm.swappiness", "not namespaced");
    }

    [Fact]
    public void Missing_cwd_fails_in_the_child()
    {
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Process!.Cwd = "/does/not/exist"), "/does/not/exist");
    }

    [Fact]
    public void Namespaced_sysctl_is_applied()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.Sysctl = new() { ["net.ipv4.ip_forward"] = "1", ["kernel.shmmni"] = "1234" }, "sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("1\n1234", r.Stdout.Trim());
    }
}

public class LsmAndPersonalityTests
{
    [Fact]
    public void Apparmor_label_without_apparmor_is_a_warning()
    {
        Assert.False(Directory.Exists("/sys/kernel/security/apparmor"), "this test expects a host without AppArmor, as CI is");
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Process!.ApparmorProfile = "docker-default", "true"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("apparmorProfile", r.Stderr);
        Assert.Contains("ignored", r.Stderr);
    }

    [Fact]
    public void Personality_linux32_is_applied()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.Personality = new Csrun.Oci.LinuxPersonality { Domain = "LINUX32" }, "uname", "-m"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("i686", r.Stdout.Trim());
    }

    [Fact]
    public void Unknown_personality_is_refused_clearly()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "--bundle", sb.Bundle(s => s.Linux!.Personality = new Csrun.Oci.LinuxPersonality { Domain = "SVR4" }), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("linux.personality.domain", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }
}

public class IntelRdtTests
{
    [Fact]
    public void Intel_rdt_without_resctrl_is_refused_clearly()
    {
        Assert.False(Directory.Exists("/sys/fs/resctrl/info"), "this test expects a host without Intel RDT (resctrl), as CI is");
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "--bundle", sb.Bundle(s => s.Linux!.IntelRdt = new Csrun.Oci.LinuxIntelRdt { ClosID = "c1" }), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("linux.intelRdt", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }
}
