using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Csrun.Linux;
using Microsoft.AspNetCore.Http;

namespace Csrun.Cri.Streaming;

/// <summary>
/// Port-forward over a websocket, as the kubelet's streaming server serves it: the ports are the request's,
/// port i has a data channel 2i and an error channel 2i+1, the first message on each is the port as two
/// little-endian bytes, and every message starts with its channel number. One TCP connection per port.
/// </summary>
internal static class WebSocketPortForward
{
    private static readonly string[] Protocols = ["v4.channel.k8s.io", "portforward.k8s.io"];

    public static async Task ServeAsync(HttpContext ctx, string? netns, IList<int> ports)
    {
        if (ports.Count == 0)
        {
            ctx.Response.StatusCode = StatusCodes.Status400BadRequest;
            await ctx.Response.WriteAsync("port-forward over a websocket needs the ports in the PortForward request\n");
            return;
        }
        string? protocol = Protocols.FirstOrDefault(ctx.WebSockets.WebSocketRequestedProtocols.Contains);
        using var ws = await ctx.WebSockets.AcceptWebSocketAsync(protocol);
        var send = new SemaphoreSlim(1, 1);
        async Task SendAsync(int channel, ReadOnlyMemory<byte> data)
        {
            var m = new byte[data.Length + 1];
            m[0] = (byte)channel;
            data.CopyTo(m.AsMemory(1));
            await send.WaitAsync();
            try
            {
                if (ws.State == WebSocketState.Open) await ws.SendAsync(m, WebSocketMessageType.Binary, true, CancellationToken.None);
            }
            catch (WebSocketException) { }
            finally { send.Release(); }
        }

        var sockets = new Socket?[ports.Count];
        var pumps = new List<Task>();
        try
        {
            for (int i = 0; i < ports.Count; i++)
            {
                byte[] port = [(byte)(ports[i] & 0xFF), (byte)(ports[i] >> 8)];
                await SendAsync(2 * i, port);
                await SendAsync(2 * i + 1, port);
                try
                {
                    sockets[i] = await StreamingServer.ConnectInPodAsync(netns, ports[i]);
                }
                catch (Exception e) when (e is SocketException or ErrnoException)
                {
                    await SendAsync(2 * i + 1, Encoding.UTF8.GetBytes($"failed to connect to localhost:{ports[i]} inside the pod: {e.Message}"));
                    continue;
                }
                var socket = sockets[i]!;
                int channel = 2 * i;
                pumps.Add(Task.Run(async () =>
                {
                    var buffer = new byte[32 * 1024];
                    try
                    {
                        int n;
                        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0) await SendAsync(channel, buffer.AsMemory(0, n));
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
                }));
            }

            // Once every connection has ended (the pod closed them), so does the websocket.
            _ = Task.WhenAll(pumps).ContinueWith(async _ =>
            {
                await send.WaitAsync();
                try
                {
                    if (ws.State == WebSocketState.Open) await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                }
                catch (WebSocketException) { }
                finally { send.Release(); }
            }, TaskScheduler.Default);

            // What the client sends on a data channel goes to that port's connection; its close ends them all.
            var message = new MemoryStream();
            var receive = new byte[32 * 1024];
            while (ws.State == WebSocketState.Open)
            {
                var r = await ws.ReceiveAsync(receive, CancellationToken.None);
                if (r.MessageType == WebSocketMessageType.Close) break;
                message.Write(receive, 0, r.Count);
                if (!r.EndOfMessage) continue;
                byte[] m = message.ToArray();
                message.SetLength(0);
                if (m.Length < 2 || m[0] % 2 != 0 || m[0] / 2 >= sockets.Length || sockets[m[0] / 2] is not { } target) continue;
                await target.SendAsync(m.AsMemory(1), SocketFlags.None);
            }
        }
        catch (Exception e) when (e is WebSocketException or SocketException or IOException) { }
        finally
        {
            foreach (var s in sockets) s?.Dispose();
            await Task.WhenAll(pumps);
            try
            {
                if (ws.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }
            catch (WebSocketException) { }
        }
    }
}
