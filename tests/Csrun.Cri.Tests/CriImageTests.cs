using Csrun.Images.Tests.Fixtures;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = Csrun.Cri.V1;
using V1Alpha2 = Csrun.Cri.V1Alpha2;

namespace Csrun.Cri.Tests;

/// <summary>The CRI ImageService over csrund's socket, pulling from Debian's docker-registry on 127.0.0.1.</summary>
public sealed class CriImageTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private CriDaemon _daemon = null!;
    private CriOptions _options = null!;
    private GrpcChannel _channel = null!;
    private RegistryServer _reg = null!;

    public async Task InitializeAsync()
    {
        _reg = await RegistryServer.StartAsync(basicAuth: ("kube", "let"));
        using (var p = new RegistryPusher(_reg.BaseUri, ("kube", "let")))
            await p.PushLayoutAsync(TestImages.Layout("layered"), "apps/web", "v1");
        _daemon = await CriDaemon.StartAsync(_dir, o => o.RegistriesConfigPath = _dir.Combine("registries.json"));
        (_options, _channel) = (_daemon.Options, _daemon.Channel);
    }

    public async Task DisposeAsync()
    {
        if (_daemon is not null) await _daemon.DisposeAsync();
        if (_reg is not null) await _reg.DisposeAsync();
        _dir.Dispose();
    }

    private V1.ImageService.ImageServiceClient Images => new(_channel);

    private static V1.ImageSpec Spec(string image) => new() { Image = image };

    [Fact]
    public async Task PullListStatusRemoveAndFsInfo()
    {
        string reference = $"{_reg.Host}/apps/web:v1";
        var e = await Assert.ThrowsAsync<RpcException>(async () => await Images.PullImageAsync(new V1.PullImageRequest { Image = Spec(reference) }));
        Assert.Contains("requires credentials", e.Status.Detail);

        // Not there yet: an empty answer, as the kubelet expects before it pulls.
        var status = await Images.ImageStatusAsync(new V1.ImageStatusRequest { Image = Spec(reference) });
        Assert.Null(status.Image);

        var pulled = await Images.PullImageAsync(new V1.PullImageRequest
        {
            Image = Spec(reference),
            Auth = new V1.AuthConfig { Username = "kube", Password = "let", ServerAddress = _reg.Host },
        });
        Assert.StartsWith("sha256:", pulled.ImageRef);

        var list = await Images.ListImagesAsync(new V1.ListImagesRequest());
        var image = Assert.Single(list.Images);
        Assert.Equal(pulled.ImageRef, image.Id);
        Assert.Equal([reference], image.RepoTags);
        Assert.Single(image.RepoDigests, d => d.StartsWith($"{_reg.Host}/apps/web@sha256:"));
        Assert.Equal("app", image.Username);
        Assert.True(image.Size > 0);

        // By repo digest too (repo@sha256 of the manifest pulled), the same answer as by tag.
        var byTag = await Images.ImageStatusAsync(new V1.ImageStatusRequest { Image = Spec(reference) });
        var byDigest = await Images.ImageStatusAsync(new V1.ImageStatusRequest { Image = Spec(image.RepoDigests[0]) });
        Assert.Equal(byTag.Image, byDigest.Image);
        status = await Images.ImageStatusAsync(new V1.ImageStatusRequest { Image = Spec(pulled.ImageRef), Verbose = true });
        Assert.Equal(pulled.ImageRef, status.Image.Id);
        Assert.Contains("\"GREETING=hello\"", status.Info["info"]);
        var filtered = await Images.ListImagesAsync(new V1.ListImagesRequest { Filter = new V1.ImageFilter { Image = Spec("nothing-like-this") } });
        Assert.Empty(filtered.Images);

        var fs = await Images.ImageFsInfoAsync(new V1.ImageFsInfoRequest());
        var usage = Assert.Single(fs.ImageFilesystems);
        Assert.Equal(_options.ImageRoot, usage.FsId.Mountpoint);
        Assert.True(usage.UsedBytes.Value > 500_000 && usage.InodesUsed.Value > 100);

        await Images.RemoveImageAsync(new V1.RemoveImageRequest { Image = Spec(reference) });
        Assert.Empty((await Images.ListImagesAsync(new V1.ListImagesRequest())).Images);
        Assert.Empty(Directory.GetFiles(Path.Combine(_options.ImageRoot, "blobs/sha256")));
        await Images.RemoveImageAsync(new V1.RemoveImageRequest { Image = Spec(reference) }); // gone already: still OK
    }

    [Fact]
    public async Task BadReferencesAreInvalidArgumentsAndV1Alpha2Pulls()
    {
        var e = await Assert.ThrowsAsync<RpcException>(async () => await Images.PullImageAsync(new V1.PullImageRequest { Image = Spec("Bad/Name") }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("image.image", e.Status.Detail);

        var old = new V1Alpha2.ImageService.ImageServiceClient(_channel);
        string auth = Convert.ToBase64String("kube:let"u8);
        var pulled = await old.PullImageAsync(new V1Alpha2.PullImageRequest
        {
            Image = new V1Alpha2.ImageSpec { Image = $"{_reg.Host}/apps/web:v1" },
            Auth = new V1Alpha2.AuthConfig { Auth = auth },
        });
        Assert.StartsWith("sha256:", pulled.ImageRef);
    }
}
