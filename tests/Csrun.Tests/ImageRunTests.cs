using System.Text.Json;

namespace Csrun.Tests;

/// <summary>
/// `csrun run --image`, `csrun image import|export|list|inspect|remove|prune` against the test images that
/// rootfs/mkimages.sh builds, each test with its own image store; no registry needed here.
/// </summary>
public sealed class ImageRunTests : IDisposable
{
    private readonly Sandbox _sb = new();
    private readonly string _store;

    public ImageRunTests() => _store = Path.Combine(_sb.Dir, "store");

    public void Dispose() => _sb.Dispose();

    private ProcResult Csrun(params string[] args) => _sb.Csrun([.. args[..1], "--image-root", _store, .. args[1..]]);

    private ProcResult Image(params string[] args) => _sb.Csrun(["image", "--image-root", _store, .. args]);

    private string Import(string name)
    {
        var r = Image("import", "--name", name, Path.Combine(TestEnv.Images, name));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout.Trim();
    }

    private void AssertReleased(string id)
    {
        Assert.False(Directory.Exists(Path.Combine(_store, "bundles", id)), "bundle left behind");
        Assert.False(Directory.Exists(Path.Combine(_store, "snapshots/active", id)), "snapshot left behind");
        Assert.Empty(Leaks.Mounts(_store));
        Leaks.AssertNothingLeft(_sb, id);
    }

    [Fact]
    public void LayeredImageRunsWithItsConfigAndLayerSemantics()
    {
        Assert.Equal("docker.io/library/layered:latest", Import("layered"));
        string id = _sb.NewId("img");
        // The image's Entrypoint is sh -c and its Cmd prints GREETING, the cwd and the user.
        var r = Csrun("run", "--rm", "--name", id, "--image", "layered");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello from /srv/www as app", r.Stdout.Trim());

        // Whiteout (data/a gone), opaque dir (opt holds only the top layer's content), supplementary groups.
        r = Csrun("run", "--rm", "--name", _sb.NewId("img"), "--image", "layered",
            "ls /data; echo --; ls /opt; echo --; id; echo --; echo $MODE $HOME");
        Assert.True(r.ExitCode == 0, r.ToString());
        var parts = r.Stdout.Split("--\n");
        Assert.Equal(["b", "c"], parts[0].Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["new"], parts[1].Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("uid=1500(app) gid=1500(app)", parts[2]);
        Assert.Contains("50(staff)", parts[2]);
        Assert.Equal("image /srv/www", parts[3].Trim());
        AssertReleased(id);
    }

    [Fact]
    public void AnInitClonedAheadSeesTheRootfsMountedAfterIt()
    {
        // Without a cgroup2 mount the start-up's spawner clones the init before csrun mounts the image's rootfs
        // (native/spawner.c): the init's mount namespace, made ahead, is made again from the host's table once that
        // table changed (its mountinfo polls POLLPRI), so it sees the rootfs. (Its mount is private here: it does
        // not propagate into the copy.)
        Import("layered");
        string id = _sb.NewId("img");
        var r = _sb.CsrunWithoutCgroup2("run", "--image-root", _store, "--rm", "--name", id, "--image", "layered");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("note init cloned by the start-up's spawner ahead of the plan", r.Stderr);
        Assert.Equal("hello from /srv/www as app", r.Stdout.Trim());
        AssertReleased(id);
    }

    [Fact]
    public void RunOptionsOverrideTheImage()
    {
        Import("layered");
        string host = Path.Combine(_sb.Dir, "host");
        Directory.CreateDirectory(host);
        File.WriteAllText(Path.Combine(host, "in.txt"), "from host\n");
        string id = _sb.NewId("img");
        var r = Csrun("run", "--rm", "--name", id, "-e", "MODE=override", "-e", "EXTRA=1", "-w", "/tmp", "-u", "1000:29",
            "-v", $"{host}:/mnt/host:ro", "--entrypoint", "/bin/sh", "--hostname", "imgbox", "--image", "layered",
            "-c", "echo $MODE $EXTRA $GREETING; pwd; id -u; id -g; cat /mnt/host/in.txt; hostname; touch /mnt/host/x 2>/dev/null || echo ro");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["override 1 hello", "/tmp", "1000", "29", "from host", "imgbox", "ro"],
            r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        AssertReleased(id);
    }

    [Fact]
    public void ExitCodeAndChangesStayInTheContainersOwnLayer()
    {
        Import("busybox");
        var r = Csrun("run", "--rm", "--name", _sb.NewId("img"), "--image", "busybox", "sh", "-c", "echo x > /etc/changed; exit 7");
        Assert.Equal(7, r.ExitCode);
        r = Csrun("run", "--rm", "--name", _sb.NewId("img"), "--image", "busybox", "cat", "/etc/changed");
        Assert.NotEqual(0, r.ExitCode); // a new container starts from the image, not from the last one's changes
    }

    [Fact]
    public void WithoutRmTheContainerStaysStoppedUntilDelete()
    {
        Import("layered");
        string id = _sb.NewId("img");
        var r = Csrun("run", "--name", id, "--image", "layered");
        Assert.True(r.ExitCode == 0, r.ToString());
        var state = _sb.Csrun("state", id);
        Assert.True(state.ExitCode == 0, state.ToString());
        using var doc = JsonDocument.Parse(state.Stdout);
        Assert.Equal("stopped", doc.RootElement.GetProperty("status").GetString());
        string bundle = doc.RootElement.GetProperty("bundle").GetString()!;
        Assert.Equal(Path.Combine(_store, "bundles", id), bundle);

        // The image config became annotations and a volume mount in the bundle's config.json.
        using var spec = JsonDocument.Parse(File.ReadAllText(Path.Combine(bundle, "config.json")));
        var ann = spec.RootElement.GetProperty("annotations");
        Assert.Equal("53/udp,8080/tcp", ann.GetProperty("org.opencontainers.image.exposedPorts").GetString());
        Assert.Equal("SIGQUIT", ann.GetProperty("org.opencontainers.image.stopSignal").GetString());
        Assert.Equal("test", ann.GetProperty("org.example.role").GetString());
        Assert.Contains(spec.RootElement.GetProperty("mounts").EnumerateArray(),
            m => m.GetProperty("destination").GetString() == "/var/lib/app" && m.GetProperty("source").GetString()!.StartsWith(bundle));

        // Its layers are in use: prune keeps them.
        Assert.Equal(0, Image("remove", "layered").ExitCode);
        Assert.Equal(3, Directory.GetDirectories(Path.Combine(_store, "snapshots/layers")).Length);

        r = _sb.Csrun("delete", id);
        Assert.True(r.ExitCode == 0, r.ToString());
        AssertReleased(id);
        Assert.True(Image("prune").ExitCode == 0);
        Assert.Empty(Directory.GetDirectories(Path.Combine(_store, "snapshots/layers")));
        Assert.Empty(Directory.GetFiles(Path.Combine(_store, "blobs/sha256")));
    }

    [Fact]
    public void DetachedContainerIsDeletedWithItsSnapshot()
    {
        Import("busybox");
        string id = _sb.NewId("img");
        var r = Csrun("run", "-d", "--name", id, "--image", "busybox", "sleep", "100");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(id, r.Stdout.Trim());
        Assert.Contains(Leaks.Mounts(_store), m => m.EndsWith($"bundles/{id}/rootfs"));
        r = _sb.Csrun("delete", "--force", id);
        Assert.True(r.ExitCode == 0, r.ToString());
        AssertReleased(id);
    }

    [Fact]
    public void ListInspectAndPlatformsOfAMultiArchImage()
    {
        Import("multiarch");
        var list = Image("list");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("docker.io/library/multiarch:latest", list.Stdout);
        Assert.Contains("linux/amd64", list.Stdout);

        var arm = Image("inspect", "--platform", "linux/arm64", "multiarch");
        Assert.True(arm.ExitCode == 0, arm.ToString());
        using var doc = JsonDocument.Parse(arm.Stdout);
        Assert.Equal("arm64", doc.RootElement[0].GetProperty("config").GetProperty("architecture").GetString());
        Assert.Equal("application/vnd.oci.image.index.v1+json", doc.RootElement[0].GetProperty("mediaType").GetString());

        // This host is amd64: run picks the amd64 manifest.
        var r = Csrun("run", "--rm", "--name", _sb.NewId("img"), "--image", "multiarch", "sh", "-c", "test -e /etc/platform || echo amd64");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("amd64", r.Stdout.Trim());
    }

    [Fact]
    public void ExportAndImportRoundTripThroughTarAndLayout()
    {
        Import("busybox-docker");
        Import("busybox");
        string tar = Path.Combine(_sb.Dir, "img.tar"), dir = Path.Combine(_sb.Dir, "layout");
        Assert.Equal(0, Image("export", "-o", tar, "busybox-docker").ExitCode);
        Assert.Equal(0, Image("export", "--dir", "-o", dir, "busybox").ExitCode);

        // Others read what we write: skopeo reads the layout (it reads OCI-typed manifests only).
        var sk = Sandbox.Exec("skopeo", "inspect", $"oci:{dir}:latest");
        Assert.True(sk.ExitCode == 0, sk.ToString());
        Assert.Contains("\"Architecture\": \"amd64\"", sk.Stdout);

        string other = Path.Combine(_sb.Dir, "store2");
        var r = _sb.Csrun("image", "--image-root", other, "import", tar);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("docker.io/library/busybox-docker:latest", r.Stdout.Trim());
        r = _sb.Csrun("run", "--image-root", other, "--rm", "--name", _sb.NewId("img"), "--image", "busybox-docker", "echo", "imported");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("imported", r.Stdout.Trim());
    }

    [Fact]
    public void DockerSaveArchiveImports()
    {
        // The shape `docker save` wrote before docker 25: manifest.json, <hex>.json, <id>/layer.tar.
        string src = Path.Combine(_sb.Dir, "save");
        Directory.CreateDirectory(Path.Combine(src, "abc"));
        Sandbox.Exec("tar", "-C", TestEnv.BusyboxRootfs, "-cf", Path.Combine(src, "abc/layer.tar"), ".");
        string diff = Sha256File(Path.Combine(src, "abc/layer.tar"));
        string config = $"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Cmd\":[\"echo\",\"saved\"]}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"sha256:{diff}\"]}}}}";
        File.WriteAllText(Path.Combine(src, "cfg.json"), config);
        File.WriteAllText(Path.Combine(src, "manifest.json"), "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"saved/app:1.0\"],\"Layers\":[\"abc/layer.tar\"]}]");
        string tar = Path.Combine(_sb.Dir, "save.tar");
        Sandbox.Exec("tar", "-C", src, "-cf", tar, ".");

        var r = Image("import", tar);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("docker.io/saved/app:1.0", r.Stdout.Trim());
        r = Csrun("run", "--rm", "--name", _sb.NewId("img"), "--image", "saved/app:1.0");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("saved", r.Stdout.Trim());
    }

    [Fact]
    public void TtyGivesTheProcessATerminal()
    {
        Import("busybox");
        string id = _sb.NewId("img");
        // script(1) puts csrun itself on a pseudo-terminal; -t gives the container one of its own.
        var r = Sandbox.Exec("script", "-qec",
            $"{TestEnv.CsrunBinary} --root {_sb.Root} run --image-root {_store} --rm -t --name {id} --image busybox sh -c 'tty; test -t 0 && echo stdin-is-a-tty'",
            "/dev/null");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("/dev/pts/0", r.Stdout);
        Assert.Contains("stdin-is-a-tty", r.Stdout);
        AssertReleased(id);
    }

    [Fact]
    public void BadInputFailsClearlyAndLeavesNothing()
    {
        Import("busybox");
        string id = _sb.NewId("img");
        var r = Csrun("run", "--rm", "--name", id, "--pull", "never", "--image", "nosuchimage");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("image \"nosuchimage\": not found", r.Stderr);

        r = Csrun("run", "--rm", "--name", id, "-v", "/nonexistent-dir-xyz:/mnt", "--image", "busybox", "true");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("volume source \"/nonexistent-dir-xyz\"", r.Stderr);
        AssertReleased(id);

        r = Csrun("run", "--rm", "--name", id, "-u", "nosuchuser", "--image", "busybox", "true");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("user \"nosuchuser\": no such user", r.Stderr);
        AssertReleased(id);

        r = Csrun("run", "--rm", "--name", id, "--image", "busybox", "/no/such/program");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("/no/such/program", r.Stderr);
        AssertReleased(id);

        r = Image("import", Path.Combine(_sb.Dir, "missing.tar"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("missing.tar: no such file or directory", r.Stderr);
    }

    private static string Sha256File(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(s));
    }
}
