using Csrun.Images.Content;
using Csrun.Images.Registry;

namespace Csrun.Images.Tests;

public sealed class ReferenceTests
{
    [Theory]
    [InlineData("busybox", "docker.io/library/busybox:latest")]
    [InlineData("busybox:1.36", "docker.io/library/busybox:1.36")]
    [InlineData("user/app", "docker.io/user/app:latest")]
    [InlineData("index.docker.io/library/alpine:3", "docker.io/library/alpine:3")]
    [InlineData("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9")]
    [InlineData("localhost/app", "localhost/app:latest")]
    [InlineData("127.0.0.1:5000/a/b/c:v_1.2-x", "127.0.0.1:5000/a/b/c:v_1.2-x")]
    [InlineData("ghcr.io/org/img@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "ghcr.io/org/img@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("app:v1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "docker.io/library/app:v1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    public void NormalizesAsDockerDoes(string input, string normalized) =>
        Assert.Equal(normalized, ImageReference.Parse(input).ToString());

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Busybox", "lowercase")]
    [InlineData("busybox:bad/tag:", "invalid")]
    [InlineData("busybox@sha256:abc", "invalid digest")]
    [InlineData("a//b", "invalid repository name")]
    [InlineData("busybox:-x", "invalid tag")]
    public void RejectsBadReferences(string input, string why) =>
        Assert.Contains(why, Assert.Throws<ImageException>(() => ImageReference.Parse(input)).Message);

    [Fact]
    public void EndpointsPutMirrorsFirstAndLoopbackIsPlainHttp()
    {
        var c = new RegistryConfig(new(StringComparer.OrdinalIgnoreCase) { ["docker.io"] = new RegistryHostConfig { Mirrors = ["mirror.example:5000", "http://127.0.0.1:5001"] } });
        var e = c.EndpointsFor("docker.io");
        Assert.Equal(["https://mirror.example:5000/", "http://127.0.0.1:5001/", "https://registry-1.docker.io/"], e.Select(x => x.BaseUri.ToString()));
        Assert.Equal([true, true, false], e.Select(x => x.IsMirror));
        Assert.Equal("http://127.0.0.1:5000/", c.EndpointsFor("127.0.0.1:5000")[0].BaseUri.ToString());
        Assert.Equal("http://localhost:5000/", c.EndpointsFor("localhost:5000")[0].BaseUri.ToString());
        Assert.Equal("https://ghcr.io/", c.EndpointsFor("ghcr.io")[0].BaseUri.ToString());
    }

    [Fact]
    public void ConfigErrorsNameTheFileAndField()
    {
        string f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, """{"registries": {"docker.io": {"mirrors": ["ftp://x"]}}}""");
            var e = Assert.Throws<ImageException>(() => RegistryConfig.Load(f));
            Assert.Contains(f, e.Message);
            Assert.Contains("registries.\"docker.io\".mirrors", e.Message);
            File.WriteAllText(f, "{not json");
            Assert.Contains(f, Assert.Throws<ImageException>(() => RegistryConfig.Load(f)).Message);
            File.WriteAllText(f, """{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}, "r.example": {"username": "a", "password": "b"}}}""");
            var a = AuthConfig.Load(f);
            Assert.Equal(("u", "p"), a.For("docker.io"));
            Assert.Equal(("a", "b"), a.For("r.example"));
            Assert.Null(a.For("other.example"));
        }
        finally { File.Delete(f); }
    }

    [Fact]
    public void PlatformSelectionFollowsVariantDefaults()
    {
        var index = new ImageIndex
        {
            Manifests =
            [
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = "a", Platform = new Platform { Os = "linux", Architecture = "arm", Variant = "v6" } },
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = "b", Platform = new Platform { Os = "linux", Architecture = "arm", Variant = "v7" } },
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = "c", Platform = new Platform { Os = "linux", Architecture = "arm64" } },
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = "d", Platform = new Platform { Os = "linux", Architecture = "amd64" } },
                new Descriptor { MediaType = MediaTypes.OciManifest, Digest = "e", Platform = new Platform { Os = "unknown", Architecture = "unknown" } },
            ],
        };
        Assert.Equal("c", PlatformSelector.Select(index, PlatformSelector.Parse("linux/arm64/v8"))!.Digest);
        Assert.Equal("b", PlatformSelector.Select(index, PlatformSelector.Parse("linux/arm"))!.Digest);
        Assert.Equal("a", PlatformSelector.Select(index, PlatformSelector.Parse("linux/arm/v6"))!.Digest);
        Assert.Equal("d", PlatformSelector.Select(index, PlatformSelector.Parse("x86_64"))!.Digest);
        Assert.Null(PlatformSelector.Select(index, PlatformSelector.Parse("linux/riscv64")));
    }
}
