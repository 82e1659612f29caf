using Csrun.Oci;

namespace Csrun.Tests;

public class CapabilityTests
{
    private static ulong Field(string status, string name) =>
        Convert.ToUInt64(status.Split('\n').First(l => l.StartsWith(name + ":")).Split('\t')[1].Trim(), 16);

    [Fact]
    public void Default_spec_capabilities_and_no_new_privileges()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(null, "cat", "/proc/self/status"));
        Assert.True(r.ExitCode == 0, r.ToString());
        // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
        ulong expected = (1UL << 5) | (1UL << 10) | (1UL << 29);
        Assert.Equal(expected, Field(r.Stdout, "CapEff"));
        Assert.Equal(expected, Field(r.Stdout, "CapPrm"));
        Assert.Equal(expected, Field(r.Stdout, "CapBnd"));
        Assert.Contains("NoNewPrivs:\t1", r.Stdout);
    }

    [Fact]
    public void Dropped_capability_is_enforced()
    {
        using var sb = new Sandbox();
        // Without CAP_MKNOD and CAP_SYS_ADMIN root in the container can neither make device nodes nor mount.
        var r = sb.RunContainer(sb.Bundle(null, "sh", "-c", "mknod /tmp/n c 1 3 2>&1; echo mknod=$?; mount -t tmpfs none /mnt 2>&1; echo mount=$?"));
        Assert.Contains("mknod=1", r.Stdout);
        Assert.Contains("mount=", r.Stdout);
        Assert.DoesNotContain("mount=0", r.Stdout);
    }

    [Fact]
    public void Non_root_user_gets_ambient_capabilities()
    {
        using var sb = new Sandbox();
        string[] caps = ["CAP_NET_BIND_SERVICE"];
        var r = sb.RunContainer(sb.Bundle(s =>
        {
            s.Process!.User = new User { Uid = 1000, Gid = 1000 };
            s.Process.Capabilities = new LinuxCapabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps], Inheritable = [.. caps], Ambient = [.. caps] };
            s.Process.NoNewPrivileges = false;
        }, "cat", "/proc/self/status"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(1UL << 10, Field(r.Stdout, "CapAmb"));
        Assert.Equal(1UL << 10, Field(r.Stdout, "CapEff"));
        Assert.Contains("NoNewPrivs:\t0", r.Stdout);
    }

    [Fact]
    public void Unknown_capability_is_refused_with_the_field_named()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "--bundle", sb.Bundle(s => s.Process!.Capabilities!.Effective!.Add("CAP_BOGUS")), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("process.capabilities.effective[3]", r.Stderr);
        Assert.Contains("CAP_BOGUS", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }
}
