using Csrun.Cni;

namespace Csrun.Cri.Tests;

/// <summary>Config loading and the namespace holder, without plugins.</summary>
public sealed class NetworkSetupTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void LoadFirst_TakesTheFirstFileByName_OfTheFirstDirectoryWithOne()
    {
        string empty = Directory.CreateDirectory(_dir.Combine("empty")).FullName;
        string dir = Directory.CreateDirectory(_dir.Combine("net.d")).FullName;
        File.WriteAllText(Path.Combine(empty, "README"), "not a config");
        File.WriteAllText(Path.Combine(dir, "20-b.conflist"), """{ "cniVersion": "1.0.0", "name": "b", "plugins": [ { "type": "bridge" } ] }""");
        File.WriteAllText(Path.Combine(dir, "10-a.conf"), """{ "cniVersion": "0.4.0", "name": "a", "type": "bridge", "bridge": "x" }""");

        CniConfigList config = CniConfigList.LoadFirst([_dir.Combine("missing"), empty, dir])!;
        Assert.Equal("a", config.Name);
        Assert.Equal("0.4.0", config.CniVersion);
        Assert.Equal("x", (string?)Assert.Single(config.Plugins)["bridge"]);
        Assert.Equal(Path.Combine(dir, "10-a.conf"), config.Source);
        Assert.Null(CniConfigList.LoadFirst([empty]));

        File.WriteAllText(Path.Combine(dir, "05-broken.json"), "{ nope");
        var e = Assert.Throws<CniException>(() => CniConfigList.LoadFirst([dir]));
        Assert.StartsWith(Path.Combine(dir, "05-broken.json") + ": ", e.Message);

        e = Assert.Throws<CniException>(() => CniConfigList.Parse("""{ "cniVersion": "1.0.0", "name": "n", "plugins": [ {}, {} ] }""", "f"));
        Assert.Equal("f: plugins[0].type: missing", e.Message);
    }

    [Fact]
    public void DefaultConflist_TheMakefileInstalls_ParsesAndItsPluginsAreInstalled()
    {
        string repo = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repo, "Runtime.sln")))
            repo = Path.GetDirectoryName(repo) ?? throw new InvalidOperationException("no Runtime.sln above the test binaries");
        CniConfigList config = CniConfigList.Load(Path.Combine(repo, "src/Csrun.Daemon/10-csrun.conflist"));
        Assert.Equal("csrun", config.Name);
        Assert.Equal(["bridge", "portmap", "loopback"], config.Plugins.Select(p => (string)p["type"]!));
        Assert.All(config.Plugins, p => Assert.True(File.Exists(Path.Combine("/usr/lib/cni", (string)p["type"]!))));
        Assert.Equal("10.87.0.0/16", (string?)config.Plugins[0]["ipam"]!["ranges"]![0]![0]!["subnet"]);
    }

    [Fact]
    public void NetworkNamespace_IsAMountedNamespaceOfItsOwn_UntilRemoved()
    {
        using var run = new TempDir("/run");
        var namespaces = new NetworkNamespaces(run.Combine("netns"));
        string? ours = File.ResolveLinkTarget("/proc/thread-self/ns/net", false)?.LinkTarget;
        string path = namespaces.Create("pod1");
        try
        {
            Assert.Contains(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == path);
            Assert.NotEqual(Sh.Ok("readlink", "/proc/self/ns/net").Trim(), Sh.Ok("nsenter", $"--net={path}", "readlink", "/proc/self/ns/net").Trim());
            // A new namespace has only lo, down.
            string links = Sh.Ok("nsenter", $"--net={path}", "ip", "-o", "link");
            Assert.Single(links.Trim().Split('\n'));
            Assert.Contains("lo:", links);

            Assert.Throws<ArgumentException>(() => namespaces.Create("../escape"));
            Assert.Throws<Csrun.Linux.ErrnoException>(() => namespaces.Create("pod1"));
        }
        finally
        {
            namespaces.Remove("pod1");
            namespaces.Remove("pod1"); // Idempotent.
            namespaces.ReleaseDirectory();
        }
        Assert.False(File.Exists(path));
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(run.Path, StringComparison.Ordinal));
        // The unshare happened on a thread of its own: this one never left its namespace.
        Assert.Equal(ours, File.ResolveLinkTarget("/proc/thread-self/ns/net", false)?.LinkTarget);
    }
}
