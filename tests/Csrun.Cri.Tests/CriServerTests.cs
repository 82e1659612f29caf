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
        var e = await Assert.ThrowsAsync<RpcException>(async () => await Runtime.CheckpointContainerAsync(new V1.CheckpointContainerRequest()));
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        Assert.Contains("CheckpointContainer", e.Status.Detail);

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
        // The same checks as v1: the request's pod does not exist.
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("config.metadata", e.Status.Detail);

        var images = new V1Alpha2.ImageService.ImageServiceClient(_channel);
        e = await Assert.ThrowsAsync<RpcException>(async () => await images.PullImageAsync(new V1Alpha2.PullImageRequest()));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("image.image: required", e.Status.Detail);
    }

    [Fact]
    public async Task SocketPathAsAuthority_IsAccepted()
    {
        // grpc-go (crictl, kubelets dialing by path) sends the socket path as :authority; Kestrel alone resets such
        // a stream with PROTOCOL_ERROR. .NET's client never sends such an authority, so the request is written by
        // hand: preface, SETTINGS, one HEADERS frame (HPACK literals, no Huffman) and the gRPC message.
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_options.SocketPath));
        using var net = new NetworkStream(socket);
        var block = new MemoryStream();
        void Literal(byte nameIndex, string value) { block.WriteByte(nameIndex); block.WriteByte((byte)value.Length); block.Write(System.Text.Encoding.ASCII.GetBytes(value)); }
        block.WriteByte(0x83); // :method POST
        block.WriteByte(0x86); // :scheme http
        Literal(0x04, "/runtime.v1.RuntimeService/Version");
        Literal(0x01, _options.SocketPath); // :authority = the path, as grpc-go sends it
        block.Write([0x0f, 0x10]); // content-type (static 31), literal without indexing
        block.WriteByte(16); block.Write("application/grpc"u8);
        block.Write([0x00, 0x02, .. "te"u8, 0x08, .. "trailers"u8]);
        static byte[] Frame(byte type, byte flags, int stream, byte[] payload) =>
            [(byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length, type, flags, 0, 0, 0, (byte)stream, .. payload];
        await net.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        await net.WriteAsync(Frame(0x4, 0, 0, []));                      // SETTINGS
        await net.WriteAsync(Frame(0x1, 0x4, 1, block.ToArray()));       // HEADERS, END_HEADERS
        await net.WriteAsync(Frame(0x0, 0x1, 1, [0, 0, 0, 0, 0]));       // DATA: an empty VersionRequest, END_STREAM

        // The answer on stream 1 is response HEADERS, not RST_STREAM.
        var head = new byte[9];
        while (true)
        {
            await net.ReadExactlyAsync(head);
            int length = (head[0] << 16) | (head[1] << 8) | head[2];
            await net.ReadExactlyAsync(new byte[length]);
            if (head[8] != 1) continue;
            Assert.True(head[3] != 0x3, "the server reset the stream (RST_STREAM): the path authority was refused");
            if (head[3] == 0x1) break;
        }
    }

    [Theory]
    [InlineData("41 8a 08 9d 5c 0b 81 70 dc 78 0f 03", true)]   // literal with indexing, name :authority, huffman value
    [InlineData("01 05 2f 72 75 6e 2f", true)]                 // literal without indexing, plain "/run/"
    [InlineData("82 86 84", false)]                            // :method GET, :scheme http, :path / only
    [InlineData("41 ff", false)]                               // truncated
    public void AuthorityRewrite_ReplacesOnlyTheAuthorityField(string hex, bool rewritten)
    {
        var block = Convert.FromHexString(hex.Replace(" ", ""));
        byte[] prefixed = [0x82, .. block, 0x86];
        Assert.Equal(rewritten, UnixAuthority.TryRewrite(prefixed, out var result));
        if (rewritten)
            Assert.Equal([0x82, 0x01, 0x09, .. "localhost"u8, 0x86], result);
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
