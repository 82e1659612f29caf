using Csrun.Cgroups;

namespace Csrun.Cgroups.Tests;

public class PathTests
{
    [Theory]
    [InlineData(null, "abc", "/csrun/abc")]
    [InlineData("", "abc", "/csrun/abc")]
    [InlineData("a/b", "abc", "/csrun/a/b")]
    [InlineData("/machine/x", "abc", "/machine/x")]
    [InlineData("/a//b/./c/", "abc", "/a/b/c")]
    public void Resolves(string? spec, string id, string expected) =>
        Assert.Equal(expected, CgroupPaths.Resolve(spec, id, systemd: false));

    [Theory]
    [InlineData("../etc")]
    [InlineData("/csrun/../../x")]
    [InlineData("/")]
    public void RefusesEscapesAndRoot(string spec) =>
        Assert.Throws<CgroupException>(() => CgroupPaths.Resolve(spec, "abc", systemd: false));

    [Fact]
    public void SystemdDriverWithoutSystemd()
    {
        var e = Assert.Throws<CgroupException>(() =>
            CgroupPaths.Resolve("system.slice:csrun:abc", "abc", true, "/nonexistent/systemd/" + Guid.NewGuid()));
        Assert.Contains("systemd cgroup driver is not available", e.Message);
    }

    [Fact]
    public void SystemdDriverOnThisHost()
    {
        var e = Assert.Throws<CgroupException>(() => CgroupPaths.Resolve("system.slice:csrun:abc", "abc", systemd: true));
        Assert.Contains("systemd cgroup driver", e.Message);
    }

    [Fact]
    public void SystemdSyntaxChecked()
    {
        var e = Assert.Throws<CgroupException>(() => CgroupPaths.Resolve("/not/slice/form", "abc", true, "/"));
        Assert.Contains("slice:prefix:name", e.Message);
    }
}
