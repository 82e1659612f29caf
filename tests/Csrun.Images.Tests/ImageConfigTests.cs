using Csrun.Images.Config;
using Csrun.Images.Content;
using Csrun.Images.Snapshots;
using Csrun.Oci;

namespace Csrun.Images.Tests;

public sealed class ImageConfigTests : IDisposable
{
    private readonly string _rootfs = Path.Combine(Path.GetTempPath(), "csrun-cfg-" + Guid.NewGuid().ToString("N")[..12]);

    public ImageConfigTests()
    {
        Directory.CreateDirectory(Path.Combine(_rootfs, "etc"));
        File.WriteAllText(Path.Combine(_rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1500:1600:app:/srv/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(_rootfs, "etc/group"), "root:x:0:\napp:x:1600:\nstaff:x:50:app,other\naudio:x:29:\n");
    }

    public void Dispose() => Directory.Delete(_rootfs, recursive: true);

    [Theory]
    [InlineData(null, 0u, 0u, "")]
    [InlineData("app", 1500u, 1600u, "50")]
    [InlineData("1500", 1500u, 1600u, "50")]
    [InlineData("app:audio", 1500u, 29u, "")]
    [InlineData("app:77", 1500u, 77u, "")]
    [InlineData("4242", 4242u, 0u, "")]
    [InlineData("4242:4343", 4242u, 4343u, "")]
    public void UsersResolveLikeDocker(string? spec, uint uid, uint gid, string extra)
    {
        var u = UserResolver.Resolve(spec, _rootfs);
        Assert.Equal(uid, u.Uid);
        Assert.Equal(gid, u.Gid);
        Assert.Equal(extra, string.Join(',', u.AdditionalGids));
    }

    [Theory]
    [InlineData("ghost", "user \"ghost\": no such user")]
    [InlineData("app:ghosts", "group \"ghosts\": no such group")]
    public void UnknownNamesAreErrors(string spec, string message) =>
        Assert.Contains(message, Assert.Throws<ImageException>(() => UserResolver.Resolve(spec, _rootfs)).Message);

    [Fact]
    public void PasswdSymlinkCannotReachTheHost()
    {
        // A hostile image: /etc/passwd -> /etc/shadow-like host file. Resolution stays inside the rootfs.
        string host = Path.Combine(Path.GetTempPath(), "csrun-hostfile-" + Guid.NewGuid().ToString("N")[..8]);
        File.WriteAllText(host, "evil:x:0:0::/:/bin/sh\n");
        try
        {
            File.Delete(Path.Combine(_rootfs, "etc/passwd"));
            File.CreateSymbolicLink(Path.Combine(_rootfs, "etc/passwd"), host);
            Assert.Throws<ImageException>(() => UserResolver.Resolve("evil", _rootfs));
        }
        finally { File.Delete(host); }
    }

    [Fact]
    public void EnvMergesByNameLaterWins()
    {
        var env = ImageSpec.MergeEnv(["PATH=/bin", "TERM=xterm"], ["PATH=/usr/bin:/bin", "A=1"], ["A=2", "B"]);
        Assert.Equal(["PATH=/usr/bin:/bin", "TERM=xterm", "A=2", "B"], env);
    }

    [Fact]
    public void ImageConfigBecomesSpec()
    {
        var spec = new Spec { Process = new Process { Env = ["PATH=/bin", "TERM=xterm"] }, Mounts = [] };
        var image = new ImageConfigFile
        {
            Os = "linux", Architecture = "amd64",
            Config = new ContainerConfig
            {
                Entrypoint = ["/entry"], Cmd = ["--serve"], Env = ["PATH=/usr/bin", "X=1"], WorkingDir = "/srv", User = "app",
                ExposedPorts = new() { ["80/tcp"] = new(), ["443/tcp"] = new() }, StopSignal = "SIGINT",
                Labels = new() { ["a"] = "b" }, Volumes = new() { ["/data"] = new() },
            },
        };
        ImageSpec.Apply(spec, image, _rootfs, new RunOverrides(), v => "/vol" + v);
        Assert.Equal(["/entry", "--serve"], spec.Process.Args);
        Assert.Equal(["PATH=/usr/bin", "TERM=xterm", "X=1", "HOME=/srv/app"], spec.Process.Env);
        Assert.Equal("/srv", spec.Process.Cwd);
        Assert.Equal((1500u, 1600u), (spec.Process.User.Uid, spec.Process.User.Gid));
        Assert.Equal([50u], spec.Process.User.AdditionalGids!);
        Assert.Equal("443/tcp,80/tcp", spec.Annotations![ImageSpec.ExposedPortsAnnotation]);
        Assert.Equal("SIGINT", spec.Annotations[ImageSpec.StopSignalAnnotation]);
        Assert.Equal("b", spec.Annotations["a"]);
        Assert.Contains(spec.Mounts, m => m.Destination == "/data" && m.Source == "/vol/data");

        // A command replaces Cmd and keeps Entrypoint; --entrypoint drops Cmd.
        ImageSpec.Apply(spec, image, _rootfs, new RunOverrides { Command = ["x"] }, v => v);
        Assert.Equal(["/entry", "x"], spec.Process.Args);
        ImageSpec.Apply(spec, image, _rootfs, new RunOverrides { Entrypoint = ["/bin/sh"] }, v => v);
        Assert.Equal(["/bin/sh"], spec.Process.Args);
    }

    [Fact]
    public void ChainIdsFollowTheImageSpec()
    {
        var a = Digest.Parse("sha256:" + new string('a', 64));
        var b = Digest.Parse("sha256:" + new string('b', 64));
        var chain = Snapshotter.ChainIds([a, b]);
        Assert.Equal(a, chain[0]);
        Assert.Equal(Digest.Sha256(System.Text.Encoding.ASCII.GetBytes($"{a} {b}")), chain[1]);
    }
}
