using System.Net.Sockets;
using System.Text.Json.Nodes;
using Csrun.Cri.Services;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using V1 = Csrun.Cri.V1;
using V1Alpha2 = Csrun.Cri.V1Alpha2;

namespace Csrun.Cri.Tests;

/// <summary>
/// csrund served in process (CriHost, as the csrund executable starts it) on a socket of its own, and called
/// through gRPC clients generated from the same protos over that unix socket: the whole wire path, with no
/// process to leak and failures that show the server's stack.
/// </summary>
public sealed class CriServerTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private CriDaemon _daemon = null!;
    private CriOptions _options = null!;
    private WebApplication _app = null!;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir.Combine("net.d"));
        _daemon = await CriDaemon.StartAsync(_dir);
        (_options, _app, _channel) = (_daemon.Options, _daemon.App, _daemon.Channel);
    }

    public async Task DisposeAsync()
    {
        if (_daemon is not null) await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    private V1.RuntimeService.RuntimeServiceClient Runtime => new(_channel);

    private void WriteConflist(string pluginType) => File.WriteAllText(_dir.Combine("net.d", "10-test.conflist"), $$"""
        { "cniVersion": "1.0.0", "name": "crit", "plugins": [ { "type": "{{pluginType}}" } ] }
        """);

    [Fact]
    public async Task Version_NamesCsrunAndApiV1()
    {
        V1.VersionResponse v = await Runtime.VersionAsync(new V1.VersionRequest { Version = "0.1.0" });
        Assert.Equal("0.1.0", v.Version);
        Assert.Equal("csrun", v.RuntimeName);
        Assert.Equal("v1", v.RuntimeApiVersion);
        Assert.Matches(@"^\d+\.\d+\.\d+", v.RuntimeVersion);
    }

    [Fact]
    public async Task Status_WithoutCniConfig_RuntimeReadyNetworkNotReady()
    {
        V1.StatusResponse s = await Runtime.StatusAsync(new V1.StatusRequest());
        V1.RuntimeCondition runtime = Assert.Single(s.Status.Conditions, c => c.Type == "RuntimeReady");
        V1.RuntimeCondition network = Assert.Single(s.Status.Conditions, c => c.Type == "NetworkReady");
        Assert.True(runtime.Status);
        Assert.False(network.Status);
        Assert.Equal("NetworkPluginNotReady", network.Reason);
        Assert.Contains(_dir.Combine("net.d"), network.Message);
    }

    [Fact]
    public async Task Status_WithCniConfig_NetworkReady_UnlessAPluginIsMissing()
    {
        WriteConflist("bridge");
        V1.StatusResponse s = await Runtime.StatusAsync(new V1.StatusRequest());
        Assert.True(Assert.Single(s.Status.Conditions, c => c.Type == "NetworkReady").Status);

        WriteConflist("csrt-no-such-plugin");
        s = await Runtime.StatusAsync(new V1.StatusRequest());
        V1.RuntimeCondition network = Assert.Single(s.Status.Conditions, c => c.Type == "NetworkReady");
        Assert.False(network.Status);
        Assert.Contains("\"csrt-no-such-plugin\" not found", network.Message);
    }

    [Fact]
    public async Task UpdateRuntimeConfig_StoresPodCidr_AndRefusesGarbage()
    {
        await Runtime.UpdateRuntimeConfigAsync(new V1.UpdateRuntimeConfigRequest
        {
            RuntimeConfig = new V1.RuntimeConfig { NetworkConfig = new V1.NetworkConfig { PodCidr = "10.244.1.0/24" } },
        });
        Assert.Equal("10.244.1.0/24", _app.Services.GetRequiredService<RuntimeStatusService>().PodCidr);

        V1.StatusResponse s = await Runtime.StatusAsync(new V1.StatusRequest { Verbose = true });
        Assert.Equal("10.244.1.0/24", (string?)JsonNode.Parse(s.Info["config"])!["podCidr"]);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await Runtime.UpdateRuntimeConfigAsync(new V1.UpdateRuntimeConfigRequest
        {
            RuntimeConfig = new V1.RuntimeConfig { NetworkConfig = new V1.NetworkConfig { PodCidr = "ten/8" } },
        }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("pod_cidr", e.Status.Detail);
    }

    [Fact]
    public async Task UnimplementedRpcs_AnswerUnimplementedWithTheirName()
    {
        var e = await Assert.ThrowsAsync<RpcException>(async () => await Runtime.RunPodSandboxAsync(new V1.RunPodSandboxRequest()));
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        Assert.Contains("RunPodSandbox", e.Status.Detail);

        var images = new V1.ImageService.ImageServiceClient(_channel);
        using var stream = images.StreamImages(new V1.StreamImagesRequest());
        e = await Assert.ThrowsAsync<RpcException>(async () => await stream.ResponseStream.MoveNext(default));
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        Assert.Contains("StreamImages", e.Status.Detail);
    }

    [Fact]
    public async Task V1Alpha2_ServedByTheSameImplementation()
    {
        var runtime = new V1Alpha2.RuntimeService.RuntimeServiceClient(_channel);
        V1Alpha2.VersionResponse v = await runtime.VersionAsync(new V1Alpha2.VersionRequest { Version = "0.1.0" });
        Assert.Equal("csrun", v.RuntimeName);
        Assert.Equal("v1", v.RuntimeApiVersion);

        V1Alpha2.StatusResponse s = await runtime.StatusAsync(new V1Alpha2.StatusRequest());
        Assert.True(Assert.Single(s.Status.Conditions, c => c.Type == "RuntimeReady").Status);
        Assert.Equal("NetworkPluginNotReady", Assert.Single(s.Status.Conditions, c => c.Type == "NetworkReady").Reason);

        await runtime.UpdateRuntimeConfigAsync(new V1Alpha2.UpdateRuntimeConfigRequest
        {
            RuntimeConfig = new V1Alpha2.RuntimeConfig { NetworkConfig = new V1Alpha2.NetworkConfig { PodCidr = "10.245.0.0/16" } },
        });
        Assert.Equal("10.245.0.0/16", _app.Services.GetRequiredService<RuntimeStatusService>().PodCidr);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await runtime.CreateContainerAsync(new V1Alpha2.CreateContainerRequest
        {
            PodSandboxId = "p",
            Config = new V1Alpha2.ContainerConfig { Envs = { new V1Alpha2.KeyValue { Key = "A", Value = "b" } } },
        }));
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        Assert.Contains("CreateContainer", e.Status.Detail);

        var images = new V1Alpha2.ImageService.ImageServiceClient(_channel);
        e = await Assert.ThrowsAsync<RpcException>(async () => await images.PullImageAsync(new V1Alpha2.PullImageRequest()));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("image.image: required", e.Status.Detail);
    }

    [Fact]
    public void Socket_IsOwnerAndGroupOnly()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite,
            File.GetUnixFileMode(_options.SocketPath));
    }

    [Fact]
    public async Task Socket_StaleOneReplaced_LiveOneRefused_RemovedOnStop()
    {
        var options = new CriOptions { SocketPath = _dir.Combine("second", "csrund.sock"), CniConfigDirs = _options.CniConfigDirs };
        Directory.CreateDirectory(_dir.Combine("second"));
        // A socket nobody listens on any more, as a killed daemon leaves it. .NET unlinks the path a Socket bound when
        // it is disposed, so the stale one is a second link to it.
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(_dir.Combine("second", "bound.sock")));
            Sh.Ok("ln", _dir.Combine("second", "bound.sock"), options.SocketPath);
        }
        Assert.True(File.Exists(options.SocketPath));

        WebApplication app = await CriHost.StartAsync(options);
        try
        {
            using GrpcChannel channel = CriDaemon.Connect(options.SocketPath);
            V1.VersionResponse v = await new V1.RuntimeService.RuntimeServiceClient(channel).VersionAsync(new V1.VersionRequest());
            Assert.Equal("csrun", v.RuntimeName);

            var e = await Assert.ThrowsAsync<IOException>(() => CriHost.StartAsync(new CriOptions { SocketPath = options.SocketPath }));
            Assert.Contains("another server is listening", e.Message);
        }
        finally
        {
            await CriHost.StopAsync(app, options);
        }
        Assert.False(File.Exists(options.SocketPath));

        File.WriteAllText(options.SocketPath, "not a socket");
        var notSocket = await Assert.ThrowsAsync<IOException>(() => CriHost.StartAsync(options));
        Assert.Contains("is not a socket", notSocket.Message);
    }
}
