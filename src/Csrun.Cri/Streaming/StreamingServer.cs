using System.Buffers.Binary;
using System.IO.Pipes;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Csrun.Cri.Containers;
using Csrun.Cri.Services;
using Csrun.Cri.State;
using Csrun.Cri.V1;
using Csrun.Engine;
using Csrun.Linux;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Csrun.Cri.Streaming;

/// <summary>
/// csrund's streaming server (HTTP/1.1 on loopback): /exec, /attach and /portforward by token, upgraded to
/// SPDY/3.1 (what crictl and the kubelet's clients speak: channel.k8s.io v1-v4, portforward.k8s.io) or, for exec
/// and attach, to a websocket (v4/v5.channel.k8s.io).
/// </summary>
internal static class StreamingServer
{
    private static readonly string[] SpdyCommandProtocols = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"];
    private static readonly string[] WebSocketCommandProtocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
    private const string PortForwardProtocol = "portforward.k8s.io";

    public static void Map(WebApplication app)
    {
        app.UseWebSockets();
        app.Map("/exec/{token}", (RequestDelegate)(ctx => ServeCommand(ctx, Token(ctx), exec: true)));
        app.Map("/attach/{token}", (RequestDelegate)(ctx => ServeCommand(ctx, Token(ctx), exec: false)));
        app.Map("/portforward/{token}", (RequestDelegate)(ctx => ServePortForward(ctx, Token(ctx))));
    }

    private static string Token(HttpContext ctx) => ctx.Request.RouteValues["token"] as string ?? "";

    private static async Task ServeCommand(HttpContext ctx, string token, bool exec)
    {
        var services = ctx.RequestServices;
        var requests = services.GetRequiredService<StreamRequests>();
        object? request = exec ? requests.Take<ExecRequest>(token) : requests.Take<AttachRequest>(token);
        if (request is null)
        {
            ctx.Response.StatusCode = StatusCodes.Status404NotFound;
            await ctx.Response.WriteAsync("unknown or expired stream token\n");
            return;
        }
        bool stdin, stdout, stderr, tty;
        string command;
        if (request is ExecRequest e) (stdin, stdout, stderr, tty, command) = (e.Stdin, e.Stdout, e.Stderr, e.Tty, $"[{string.Join(' ', e.Cmd)}]");
        else
        {
            var a = (AttachRequest)request;
            (stdin, stdout, stderr, tty, command) = (a.Stdin, a.Stdout, a.Stderr, a.Tty, "attach");
        }

        IRemoteCommandChannel? channel = null;
        if (ctx.WebSockets.IsWebSocketRequest)
        {
            string? protocol = WebSocketCommandProtocols.FirstOrDefault(ctx.WebSockets.WebSocketRequestedProtocols.Contains);
            if (protocol is null)
            {
                ctx.Response.StatusCode = StatusCodes.Status400BadRequest;
                await ctx.Response.WriteAsync($"no supported websocket subprotocol (want one of {string.Join(", ", WebSocketCommandProtocols)})\n");
                return;
            }
            channel = new WebSocketRemoteCommand(await ctx.WebSockets.AcceptWebSocketAsync(protocol), stdin, command);
        }
        else
        {
            var transport = await UpgradeSpdyAsync(ctx, SpdyCommandProtocols);
            if (transport is null) return;
            channel = await SpdyRemoteCommand.AcceptAsync(transport.Value.Stream, transport.Value.Protocol, stdin, stdout, stderr, tty, command, ctx.RequestAborted);
        }
        await using (channel)
        {
            var containers = services.GetRequiredService<ContainerService>();
            var log = services.GetRequiredService<ILogger<ContainerService>>();
            try
            {
                if (request is ExecRequest er) await RunExecAsync(containers.Runtime, er, channel);
                else await RunAttachAsync(services.GetRequiredService<CriStore>(), (AttachRequest)request, channel);
            }
            catch (Exception ex) when (ex is ContainerException or IOException or SocketException)
            {
                log.LogInformation("stream for {Command}: {Error}", command, ex.Message);
                await channel.FinishAsync(-1, ex.Message);
            }
        }
    }

    /// <summary>Answers 101 with the chosen protocol and returns the raw connection, or null after a refusal.</summary>
    private static async Task<(Stream Stream, string Protocol)?> UpgradeSpdyAsync(HttpContext ctx, string[] supported)
    {
        var upgrade = ctx.Features.Get<IHttpUpgradeFeature>();
        bool spdy = ctx.Request.Headers.Upgrade.Any(u => u?.Contains("SPDY/3.1", StringComparison.OrdinalIgnoreCase) == true);
        if (upgrade is null || !upgrade.IsUpgradableRequest || !spdy)
        {
            ctx.Response.StatusCode = StatusCodes.Status400BadRequest;
            await ctx.Response.WriteAsync("this endpoint speaks SPDY/3.1 (Upgrade: SPDY/3.1) or a websocket\n");
            return null;
        }
        var offered = ctx.Request.Headers["X-Stream-Protocol-Version"].SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries)).ToHashSet();
        string? protocol = supported.FirstOrDefault(offered.Contains);
        if (protocol is null && supported.Length > 0 && offered.Count == 0 && supported.Contains(PortForwardProtocol)) protocol = PortForwardProtocol;
        if (protocol is null)
        {
            ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
            await ctx.Response.WriteAsync($"unable to upgrade: no common protocol (want one of {string.Join(", ", supported)})\n");
            return null;
        }
        ctx.Response.Headers["X-Stream-Protocol-Version"] = protocol;
        ctx.Response.Headers.Connection = "Upgrade";
        ctx.Response.Headers.Upgrade = "SPDY/3.1";
        return (await upgrade.UpgradeAsync(), protocol);
    }

    private static async Task RunExecAsync(ContainerRuntime runtime, ExecRequest r, IRemoteCommandChannel channel)
    {
        var cmd = r.Cmd.ToList();
        if (r.Tty)
        {
            var process = runtime.StartExec(r.ContainerId, p =>
            {
                p.Args = cmd;
                p.Terminal = true;
                return p;
            }, StdioFds.Inherit);
            await PumpTerminalAsync(process, channel);
            return;
        }
        using var stdoutPipe = new AnonymousPipeServerStream(PipeDirection.In);
        using var stderrPipe = new AnonymousPipeServerStream(PipeDirection.In);
        using var stdinPipe = new AnonymousPipeServerStream(PipeDirection.Out);
        using var devnull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.ReadWrite);
        int nul = (int)devnull.DangerousGetHandle();
        var stdio = new StdioFds(
            r.Stdin ? (int)stdinPipe.ClientSafePipeHandle.DangerousGetHandle() : nul,
            r.Stdout ? (int)stdoutPipe.ClientSafePipeHandle.DangerousGetHandle() : nul,
            r.Stderr ? (int)stderrPipe.ClientSafePipeHandle.DangerousGetHandle() : nul);
        var exec = runtime.StartExec(r.ContainerId, p => ContainerService.ExecProcessSpec(p, cmd), stdio);
        stdoutPipe.DisposeLocalCopyOfClientHandle();
        stderrPipe.DisposeLocalCopyOfClientHandle();
        stdinPipe.DisposeLocalCopyOfClientHandle();
        var outTask = Pump(stdoutPipe, channel.WriteStdoutAsync);
        var errTask = Pump(stderrPipe, channel.WriteStderrAsync);
        if (r.Stdin && channel.Stdin is { } input)
            _ = CopyStdinAsync(input, stdinPipe);
        else
            stdinPipe.Dispose();
        int code = await exec.WaitAsync();
        // Output a background child still holds is not waited for long.
        await Task.WhenAny(Task.WhenAll(outTask, errTask), Task.Delay(TimeSpan.FromSeconds(2)));
        await channel.FinishAsync(code, null);
    }

    private static async Task CopyStdinAsync(Stream from, Stream to)
    {
        try { await from.CopyToAsync(to); }
        catch (IOException) { }
        finally { await to.DisposeAsync(); }
    }

    private static async Task Pump(Stream from, Func<ReadOnlyMemory<byte>, Task> to)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer)) > 0) await to(buffer.AsMemory(0, n));
        }
        catch (IOException) { }
    }

    /// <summary>The pty master carries both ways; reading it fails with EIO once every holder of the slave is gone.</summary>
    private static async Task PumpTerminalAsync(ExecProcess process, IRemoteCommandChannel channel)
    {
        int master = process.PtyMaster;
        try
        {
            var output = Task.Factory.StartNew(async () =>
            {
                var buffer = new byte[32 * 1024];
                while (true)
                {
                    int n = ReadFd(master, buffer);
                    if (n <= 0) break;
                    await channel.WriteStdoutAsync(buffer.AsMemory(0, n));
                }
            }, TaskCreationOptions.LongRunning).Unwrap();
            if (channel.Stdin is { } input)
            {
                _ = Task.Run(async () =>
                {
                    var buffer = new byte[4096];
                    int n;
                    try
                    {
                        while ((n = await input.ReadAsync(buffer)) > 0) WriteFd(master, buffer.AsSpan(0, n));
                    }
                    catch (IOException) { }
                });
            }
            _ = Task.Run(async () =>
            {
                await foreach (var (rows, cols) in channel.Resizes.ReadAllAsync()) SetWinSize(master, rows, cols);
            });
            int code = await process.WaitAsync();
            await Task.WhenAny(output, Task.Delay(TimeSpan.FromSeconds(2)));
            await channel.FinishAsync(code, null);
        }
        finally
        {
            Libc.Close(master);
        }
    }

    private static unsafe int ReadFd(int fd, byte[] buffer)
    {
        while (true)
        {
            nint n;
            fixed (byte* p = buffer) n = Libc.Read(fd, p, buffer.Length);
            if (n >= 0 || Errno.Last != Libc.EINTR) return (int)n;
        }
    }

    private static unsafe void WriteFd(int fd, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            nint n;
            fixed (byte* p = data) n = Libc.Write(fd, p, data.Length);
            if (n < 0)
            {
                if (Errno.Last == Libc.EINTR) continue;
                throw new IOException($"write to terminal: errno {Errno.Last}");
            }
            data = data[(int)n..];
        }
    }

    internal static unsafe void SetWinSize(int fd, ushort rows, ushort cols)
    {
        var ws = new Tty.WinSize { Rows = rows, Cols = cols };
        Tty.Ioctl(fd, Tty.TIOCSWINSZ, &ws);
    }

    /// <summary>Attach: the monitor's attach socket carries the container's output (framed) and takes its stdin.</summary>
    private static async Task RunAttachAsync(CriStore store, AttachRequest r, IRemoteCommandChannel channel)
    {
        string dir = store.ContainerDir(r.ContainerId);
        using var socket = await ContainerMonitor.AttachAsync(dir);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        if (r.Stdin && channel.Stdin is { } input)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await input.CopyToAsync(stream);
                    socket.Shutdown(SocketShutdown.Send); // the client's EOF: the monitor closes stdin with --stdin-once
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
            });
        }
        _ = Task.Run(async () =>
        {
            await foreach (var (rows, cols) in channel.Resizes.ReadAllAsync())
            {
                try { await ContainerMonitor.CommandAsync(dir, $"resize {rows} {cols}"); }
                catch (SocketException) { break; }
            }
        });
        var header = new byte[5];
        while (await ReadFullyAsync(stream, header))
        {
            var data = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1))];
            if (!await ReadFullyAsync(stream, data)) break;
            if (header[0] == 1 && r.Stdout) await channel.WriteStdoutAsync(data);
            else if (header[0] == 2 && r.Stderr) await channel.WriteStderrAsync(data);
        }
        await channel.FinishAsync(0, null);
    }

    private static async Task<bool> ReadFullyAsync(Stream s, byte[] buffer)
    {
        int n = 0;
        while (n < buffer.Length)
        {
            int got = await s.ReadAsync(buffer.AsMemory(n));
            if (got == 0) return false;
            n += got;
        }
        return true;
    }

    /// <summary>
    /// portforward.k8s.io over SPDY: per connection the client opens an error stream and a data stream with the
    /// same requestID and port; the data goes to 127.0.0.1:port inside the pod's network namespace.
    /// </summary>
    private static async Task ServePortForward(HttpContext ctx, string token)
    {
        var services = ctx.RequestServices;
        var request = services.GetRequiredService<StreamRequests>().Take<PortForwardRequest>(token);
        if (request is null)
        {
            ctx.Response.StatusCode = StatusCodes.Status404NotFound;
            await ctx.Response.WriteAsync("unknown or expired stream token\n");
            return;
        }
        var pod = services.GetRequiredService<CriStore>().FindPod(request.PodSandboxId);
        if (ctx.WebSockets.IsWebSocketRequest)
        {
            await WebSocketPortForward.ServeAsync(ctx, pod?.NetnsPath, request.Port);
            return;
        }
        var transport = await UpgradeSpdyAsync(ctx, [PortForwardProtocol]);
        if (transport is null) return;
        await using var session = new SpdySession(transport.Value.Stream, server: true);
        var reader = session.RunAsync(CancellationToken.None);
        var errors = new Dictionary<string, SpdyStream>();
        var forwards = new List<Task>();
        await foreach (var s in session.IncomingStreams.ReadAllAsync())
        {
            string id = s.Header("requestID") ?? "";
            if (s.Header("streamType") == "error")
            {
                errors[id] = s;
                continue;
            }
            errors.Remove(id, out var error);
            forwards.Add(ForwardAsync(pod?.NetnsPath, s, error));
        }
        await Task.WhenAll(forwards);
        await reader;
    }

    private static async Task ForwardAsync(string? netns, SpdyStream data, SpdyStream? error)
    {
        if (!int.TryParse(data.Header("port"), out int port) || port is <= 0 or > 65535)
        {
            await FailAsync(data, error, $"invalid port \"{data.Header("port")}\"");
            return;
        }
        Socket socket;
        try
        {
            socket = await ConnectInPodAsync(netns, port);
        }
        catch (Exception e) when (e is SocketException or ErrnoException)
        {
            await FailAsync(data, error, $"failed to connect to localhost:{port} inside the pod: {e.Message}");
            return;
        }
        using (socket)
        {
            await using var net = new NetworkStream(socket, ownsSocket: false);
            var toPod = Task.Run(async () =>
            {
                try
                {
                    await data.Input.CopyToAsync(net);
                    socket.Shutdown(SocketShutdown.Send);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
            });
            await Pump(net, m => data.WriteAsync(m));
            await data.CloseAsync();
            await Task.WhenAny(toPod, Task.Delay(TimeSpan.FromSeconds(1)));
        }
        if (error is not null) await error.CloseAsync();
    }

    /// <summary>A TCP connection to 127.0.0.1:port in the pod's network namespace (the host's when null). A socket
    /// belongs to the namespace it was made in; connecting can happen from any thread after.</summary>
    internal static async Task<Socket> ConnectInPodAsync(string? netns, int port)
    {
        Socket? socket = null;
        try
        {
            if (netns is null) socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            else Netns.RunIn(netns, CloneFlags.CLONE_NEWNET, () => socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
            await socket!.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            return socket;
        }
        catch
        {
            socket?.Dispose();
            throw;
        }
    }

    private static async Task FailAsync(SpdyStream data, SpdyStream? error, string message)
    {
        if (error is not null)
        {
            await error.WriteAsync(Encoding.UTF8.GetBytes(message));
            await error.CloseAsync();
        }
        await data.CloseAsync();
    }
}
