using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Csrun.Cri.Streaming;
using V1 = Csrun.Cri.V1;

namespace Csrun.Cri.Tests;

/// <summary>
/// Exec, attach and port-forward through csrund's streaming server with the wire protocols kubectl and crictl
/// use: SPDY/3.1 (channel.k8s.io v4, portforward.k8s.io) driven by a client made of the same frame code, and a
/// websocket (v5.channel.k8s.io) from .NET's ClientWebSocket.
/// </summary>
public sealed class StreamingTests : IAsyncLifetime
{
    private PodTestBed _bed = null!;
    private string _pod = "";
    private V1.PodSandboxConfig _podConfig = null!;

    public async Task InitializeAsync()
    {
        _bed = await PodTestBed.StartAsync();
        _podConfig = PodTestBed.PodConfig("stream");
        _pod = await _bed.RunPodAsync(_podConfig);
    }

    public async Task DisposeAsync()
    {
        if (_bed is not null) await _bed.DisposeAsync();
    }

    [Fact]
    public void HeaderDictionary_IsSpdy3s()
    {
        // The draft's dictionary is 1423 bytes; peers check it by its Adler-32 in the zlib header (DICTID).
        Assert.Equal(1423, SpdyZlib.Dictionary.Length);
        Assert.Equal(0xe3c6a7c2u, Adler32(SpdyZlib.Dictionary));
        using var c = SpdyZlib.Compressor();
        using var d = SpdyZlib.Decompressor();
        for (int i = 0; i < 3; i++)
        {
            byte[] block = Encoding.ASCII.GetBytes($"\0\0\0\x01\0\0\0\nstreamtype\0\0\0\x05stdin{i}");
            Assert.Equal(block, d.Decompress(c.Compress(block)));
        }
    }

    [Fact]
    public async Task Exec_OverSpdy_StdinStdoutStderr_AndExitStatus()
    {
        string id = await _bed.StartContainerAsync(_pod, _podConfig, PodTestBed.ContainerConfig("sh", "sleep", "1000"));
        var url = (await _bed.Runtime.ExecAsync(new V1.ExecRequest
        {
            ContainerId = id, Cmd = { "sh", "-c", "read x; echo got $x; echo err >&2; exit 3" }, Stdin = true, Stdout = true, Stderr = true,
        })).Url;
        await using var session = await SpdyConnectAsync(url, "v4.channel.k8s.io");
        var streams = await OpenStreams(session, "error", "stdin", "stdout", "stderr");
        var (error, stdin, stdout, stderr) = (streams[0], streams[1], streams[2], streams[3]);
        await stdin.WriteAsync("hello\n"u8.ToArray());
        await stdin.CloseAsync();
        Assert.Equal("got hello\n", await ReadAll(stdout.Input));
        Assert.Equal("err\n", await ReadAll(stderr.Input));
        string status = await ReadAll(error.Input);
        Assert.Contains("\"reason\":\"NonZeroExitCode\"", status);
        Assert.Contains("{\"reason\":\"ExitCode\",\"message\":\"3\"}", status);

        // A token is good once.
        var again = await Assert.ThrowsAsync<IOException>(() => SpdyConnectAsync(url, "v4.channel.k8s.io"));
        Assert.Contains("404", again.Message);
    }

    [Fact]
    public async Task Exec_WithTerminal_OverSpdy_Resizes()
    {
        string id = await _bed.StartContainerAsync(_pod, _podConfig, PodTestBed.ContainerConfig("tty", "sleep", "1000"));
        var url = (await _bed.Runtime.ExecAsync(new V1.ExecRequest { ContainerId = id, Cmd = { "sh" }, Stdin = true, Stdout = true, Tty = true })).Url;
        await using var session = await SpdyConnectAsync(url, "v4.channel.k8s.io");
        var streams = await OpenStreams(session, "error", "stdin", "stdout", "resize");
        var (error, stdin, stdout, resize) = (streams[0], streams[1], streams[2], streams[3]);
        await resize.WriteAsync("{\"Width\":123,\"Height\":45}"u8.ToArray());
        // The resize and stdin streams are served apart: the shell waits (a bounded while) for the size to land.
        // The tty echoes this line back, so it never spells the size the assertion looks for.
        await stdin.WriteAsync("for i in $(seq 200); do [ \"$(stty size)\" = \"45 $((100 + 23))\" ] && break; sleep 0.05; done; stty size; tty; exit 4\n"u8.ToArray());
        string output = await ReadAll(stdout.Input);
        Assert.Contains("45 123", output);
        Assert.Contains("/dev/pts/", output);
        Assert.Contains("\"message\":\"4\"", await ReadAll(error.Input));
    }

    [Fact]
    public async Task Exec_OverWebSocket_V5()
    {
        string id = await _bed.StartContainerAsync(_pod, _podConfig, PodTestBed.ContainerConfig("ws", "sleep", "1000"));
        var url = (await _bed.Runtime.ExecAsync(new V1.ExecRequest
        {
            ContainerId = id, Cmd = { "sh", "-c", "cat; echo done >&2" }, Stdin = true, Stdout = true, Stderr = true,
        })).Url;
        using var ws = new ClientWebSocket();
        ws.Options.AddSubProtocol("v5.channel.k8s.io");
        await ws.ConnectAsync(new Uri(url.Replace("http://", "ws://")), CancellationToken.None);
        Assert.Equal("v5.channel.k8s.io", ws.SubProtocol);
        await ws.SendAsync(new byte[] { 0, (byte)'h', (byte)'i', (byte)'\n' }, WebSocketMessageType.Binary, true, CancellationToken.None);
        await ws.SendAsync(new byte[] { 255, 0 }, WebSocketMessageType.Binary, true, CancellationToken.None); // close stdin
        var channels = new Dictionary<byte, StringBuilder>();
        var buffer = new byte[4096];
        while (true)
        {
            var r = await ws.ReceiveAsync(buffer, CancellationToken.None);
            if (r.MessageType == WebSocketMessageType.Close) break;
            if (r.Count == 0) continue;
            (channels.TryGetValue(buffer[0], out var sb) ? sb : channels[buffer[0]] = new StringBuilder()).Append(Encoding.UTF8.GetString(buffer, 1, r.Count - 1));
        }
        Assert.Equal("hi\n", channels[1].ToString());
        Assert.Equal("done\n", channels[2].ToString());
        Assert.Equal("{\"metadata\":{},\"status\":\"Success\"}", channels[3].ToString());
    }

    [Fact]
    public async Task Attach_OverSpdy_SeesOutputAndFeedsStdin()
    {
        var config = PodTestBed.ContainerConfig("attached", "sh", "-c", "while read line; do echo echo:$line; done");
        config.Stdin = true;
        config.StdinOnce = true;
        string id = await _bed.StartContainerAsync(_pod, _podConfig, config);
        var url = (await _bed.Runtime.AttachAsync(new V1.AttachRequest { ContainerId = id, Stdin = true, Stdout = true, Stderr = true })).Url;
        await using var session = await SpdyConnectAsync(url, "v4.channel.k8s.io");
        var streams = await OpenStreams(session, "error", "stdin", "stdout", "stderr");
        var (error, stdin, stdout, stderr) = (streams[0], streams[1], streams[2], streams[3]);
        await stdin.WriteAsync("one\ntwo\n"u8.ToArray());
        await stdin.CloseAsync(); // stdin_once: the container's stdin closes, the loop ends, the container exits
        Assert.Equal("echo:one\necho:two\n", await ReadAll(stdout.Input));
        var cs = await _bed.WaitExitedAsync(id);
        Assert.Equal(0, cs.ExitCode);
        Assert.Equal("Completed", cs.Reason);
    }

    [Fact]
    public async Task PortForward_OverSpdy_ReachesTheDaemonInsideThePod()
    {
        string id = await _bed.StartContainerAsync(_pod, _podConfig, PodTestBed.ContainerConfig("server", "sh", "-c", "echo pong | nc -l -p 8080"));
        // Wait until the listener is up inside the pod.
        for (int i = 0; i < 100; i++)
        {
            var netstat = await _bed.Runtime.ExecSyncAsync(new V1.ExecSyncRequest { ContainerId = id, Cmd = { "netstat", "-ltn" }, Timeout = 5 });
            if (netstat.Stdout.ToStringUtf8().Contains(":8080")) break;
            await Task.Delay(50);
        }
        var url = (await _bed.Runtime.PortForwardAsync(new V1.PortForwardRequest { PodSandboxId = _pod, Port = { 8080 } })).Url;
        await using var session = await SpdyConnectAsync(url, "portforward.k8s.io");
        var error = await session.OpenStreamAsync(new Dictionary<string, string> { ["streamType"] = "error", ["port"] = "8080", ["requestID"] = "0" });
        var data = await session.OpenStreamAsync(new Dictionary<string, string> { ["streamType"] = "data", ["port"] = "8080", ["requestID"] = "0" });
        await data.WriteAsync("ping\n"u8.ToArray());
        await data.CloseAsync();
        Assert.Equal("pong\n", await ReadAll(data.Input));
        Assert.Equal("", await ReadAll(error.Input));

        // Nothing listens on 9: the error stream says so.
        var error2 = await session.OpenStreamAsync(new Dictionary<string, string> { ["streamType"] = "error", ["port"] = "9", ["requestID"] = "1" });
        var data2 = await session.OpenStreamAsync(new Dictionary<string, string> { ["streamType"] = "data", ["port"] = "9", ["requestID"] = "1" });
        Assert.Contains("failed to connect to localhost:9", await ReadAll(error2.Input));
    }

    [Fact]
    public async Task PortForward_OverWebSocket_ChannelsPerPort()
    {
        string id = await _bed.StartContainerAsync(_pod, _podConfig, PodTestBed.ContainerConfig("wsserver", "sh", "-c", "echo pong | nc -l -p 8081"));
        for (int i = 0; i < 100; i++)
        {
            var netstat = await _bed.Runtime.ExecSyncAsync(new V1.ExecSyncRequest { ContainerId = id, Cmd = { "netstat", "-ltn" }, Timeout = 5 });
            if (netstat.Stdout.ToStringUtf8().Contains(":8081")) break;
            await Task.Delay(50);
        }
        var url = (await _bed.Runtime.PortForwardAsync(new V1.PortForwardRequest { PodSandboxId = _pod, Port = { 8081 } })).Url;
        using var ws = new ClientWebSocket();
        ws.Options.AddSubProtocol("v4.channel.k8s.io");
        await ws.ConnectAsync(new Uri(url.Replace("http://", "ws://")), CancellationToken.None);
        await ws.SendAsync(new byte[] { 0, (byte)'p', (byte)'i', (byte)'n', (byte)'g', (byte)'\n' }, WebSocketMessageType.Binary, true, CancellationToken.None);
        var messages = new List<byte[]>();
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            var r = await ws.ReceiveAsync(buffer, cts.Token);
            if (r.MessageType == WebSocketMessageType.Close) break;
            messages.Add(buffer[..r.Count]);
        }
        // First the port (8081 = 0x1f91, little-endian) on the data and the error channel, then the data.
        Assert.Equal(new byte[] { 0, 0x91, 0x1f }, messages[0]);
        Assert.Equal(new byte[] { 1, 0x91, 0x1f }, messages[1]);
        Assert.Equal("pong\n", Encoding.UTF8.GetString(messages.Skip(2).Where(m => m[0] == 0).SelectMany(m => m[1..]).ToArray()));
    }

    /// <summary>Opens remotecommand streams by type, in the order given (the error stream first, as kubectl does).</summary>
    private static async Task<SpdyStream[]> OpenStreams(SpdySession session, params string[] types)
    {
        var streams = new SpdyStream[types.Length];
        for (int i = 0; i < types.Length; i++)
            streams[i] = await session.OpenStreamAsync(new Dictionary<string, string> { ["streamType"] = types[i] });
        return streams;
    }

    /// <summary>The HTTP/1.1 upgrade a SPDY client does, then a client session over the raw connection.</summary>
    private static async Task<SpdySession> SpdyConnectAsync(string url, string protocol)
    {
        var uri = new Uri(url);
        var tcp = new TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST {uri.PathAndQuery} HTTP/1.1\r\nHost: {uri.Authority}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
            $"X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n"));
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one) == 0) break;
            head.Append((char)one[0]);
        }
        string response = head.ToString();
        if (!response.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
        {
            tcp.Dispose();
            throw new IOException($"upgrade refused: {response.Split("\r\n")[0]}");
        }
        Assert.Contains($"X-Stream-Protocol-Version: {protocol}", response, StringComparison.OrdinalIgnoreCase);
        var session = new SpdySession(stream, server: false);
        _ = session.RunAsync(CancellationToken.None);
        return session;
    }

    private static async Task<string> ReadAll(Stream s)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var ms = new MemoryStream();
        await s.CopyToAsync(ms, cts.Token);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static uint Adler32(byte[] data)
    {
        uint a = 1, b = 0;
        foreach (byte x in data)
        {
            a = (a + x) % 65521;
            b = (b + a) % 65521;
        }
        return (b << 16) | a;
    }
}
