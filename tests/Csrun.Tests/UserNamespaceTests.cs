using System.Text.Json;
using Csrun.Oci;

namespace Csrun.Tests;

public class UserNamespaceTests
{
    private static void UserNs(Spec s)
    {
        s.Linux!.Namespaces!.Add(new LinuxNamespace { Type = "user" });
        s.Linux.UidMappings = [new LinuxIdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }];
        s.Linux.GidMappings = [new LinuxIdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }];
    }

    [Fact]
    public void Container_root_is_an_unprivileged_host_uid()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "-d", "--bundle", sb.Bundle(UserNs, "sleep", "300"), id);
        Assert.True(r.ExitCode == 0, r.ToString());
        int pid = JsonDocument.Parse(sb.Csrun("state", id).Stdout).RootElement.GetProperty("pid").GetInt32();
        for (int i = 0; i < 100 && !File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("sleep"); i++) Thread.Sleep(10);
        string status = File.ReadAllText($"/proc/{pid}/status");
        Assert.Contains("Uid:\t100000\t100000\t100000\t100000", status);
        Assert.Contains("Gid:\t100000\t100000\t100000\t100000", status);
        Assert.Equal("0 100000 65536", string.Join(' ', File.ReadAllText($"/proc/{pid}/uid_map").Split(' ', StringSplitOptions.RemoveEmptyEntries)).Trim());
    }

    [Fact]
    public void Inside_it_is_root_with_devices_proc_and_sys()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(UserNs, "sh", "-c",
            "cat /proc/self/uid_map; id -u; echo x > /dev/null && echo null-ok; head -c1 /dev/zero | wc -c; ls /sys/kernel > /dev/null && echo sys-ok; hostname"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0 100000 65536", string.Join(' ', lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal("0", lines[1].Trim());
        Assert.Contains("null-ok", r.Stdout);
        Assert.Contains("sys-ok", r.Stdout);
        Assert.Equal("csrun", lines[^1].Trim());
    }

    [Fact]
    public void Its_network_namespace_belongs_to_its_user_namespace()
    {
        // Root in the container's user namespace administers the network namespace only if that user namespace
        // owns it: made by the clone, never the one csrun's start-up prepared in the host's user namespace.
        using var sb = new Sandbox();
        var r = sb.CsrunTraced("run", "--bundle",
            sb.Bundle(s =>
            {
                UserNs(s);
                foreach (var set in (List<string>?[])[s.Process!.Capabilities!.Bounding, s.Process.Capabilities.Effective, s.Process.Capabilities.Permitted])
                    set!.Add("CAP_NET_ADMIN");
            }, "sh", "-c", "busybox ip link set lo up && busybox ip -o link show lo"), sb.NewId());
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("LOWER_UP", r.Stdout);
        Assert.DoesNotContain("namespaces made at start-up", r.Stderr);
        Assert.DoesNotContain("spawner", r.Stderr);
    }

    [Fact]
    public void New_user_namespace_without_mappings_is_refused()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "--bundle", sb.Bundle(s => s.Linux!.Namespaces!.Add(new LinuxNamespace { Type = "user" })), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("linux.uidMappings", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }
}
