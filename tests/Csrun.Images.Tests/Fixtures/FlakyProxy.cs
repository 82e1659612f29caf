using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Csrun.Images.Tests.Fixtures;

/// <summary>
/// An HTTP proxy on 127.0.0.1 in front of a registry, one request per connection (it asks both sides for
/// Connection: close). It records every request line with its Range header, and can cut blob responses after
/// some bytes of body: the next blob response only (<see cref="CutNextBlobAfter"/>) or all of them.
/// </summary>
public sealed class FlakyProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _upstream;
    private readonly CancellationTokenSource _stop = new();
    private long _cutAfter = -1;
    private bool _cutAlways;

    public ConcurrentQueue<string> Requests { get; } = new();
    public string Host => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public FlakyProxy(int upstreamPort)
    {
        _upstream = upstreamPort;
        _listener.Start();
        _ = Task.Run(Accept);
    }

    public void CutNextBlobAfter(long bytes) { Interlocked.Exchange(ref _cutAfter, bytes); _cutAlways = false; }
    public void CutEveryBlobAfter(long bytes) { Interlocked.Exchange(ref _cutAfter, bytes); _cutAlways = true; }
    public void Heal() { Interlocked.Exchange(ref _cutAfter, -1); _cutAlways = false; }

    private async Task Accept()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient c;
            try { c = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => Handle(c));
        }
    }

    private async Task Handle(TcpClient client)
    {
        using var _ = client;
        using var up = new TcpClient();
        try
        {
            await up.ConnectAsync(IPAddress.Loopback, _upstream);
            var cs = client.GetStream();
            var us = up.GetStream();
            string head = await ReadHead(cs);
            var lines = head.Split("\r\n");
            string range = lines.FirstOrDefault(l => l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase)) ?? "";
            Requests.Enqueue(lines[0] + (range.Length > 0 ? " | " + range : ""));
            var rewritten = string.Join("\r\n", lines.Where(l => l.Length > 0 && !l.StartsWith("Connection:", StringComparison.OrdinalIgnoreCase)))
                + "\r\nConnection: close\r\n\r\n";
            await us.WriteAsync(Encoding.ASCII.GetBytes(rewritten));

            bool blob = lines[0].Contains("/blobs/sha256:");
            long cut = blob ? Interlocked.Read(ref _cutAfter) : -1;
            var buf = new byte[16 * 1024];
            long body = -1; // bytes of body sent so far, once the response head is through
            var headBuf = new MemoryStream();
            int n;
            while ((n = await us.ReadAsync(buf)) > 0)
            {
                int start = 0;
                if (body < 0)
                {
                    headBuf.Write(buf, 0, n);
                    int end = IndexOfHeadEnd(headBuf.GetBuffer(), (int)headBuf.Length);
                    if (end < 0) { await cs.WriteAsync(buf.AsMemory(0, n)); continue; }
                    int inThis = end - ((int)headBuf.Length - n);
                    await cs.WriteAsync(buf.AsMemory(0, inThis));
                    start = inThis;
                    body = 0;
                }
                int len = n - start;
                // Only a response long enough to cut consumes a one-shot cut.
                if (cut >= 0 && body + len > cut && (_cutAlways || Interlocked.CompareExchange(ref _cutAfter, -1, cut) == cut))
                {
                    await cs.WriteAsync(buf.AsMemory(start, (int)(cut - body)));
                    client.Client.LingerState = new LingerOption(true, 0);
                    return; // reset mid-body
                }
                await cs.WriteAsync(buf.AsMemory(start, len));
                body += len;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
    }

    private static int IndexOfHeadEnd(byte[] b, int len)
    {
        for (int i = 3; i < len; i++)
            if (b[i - 3] == '\r' && b[i - 2] == '\n' && b[i - 1] == '\r' && b[i] == '\n') return i + 1;
        return -1;
    }

    private static async Task<string> ReadHead(NetworkStream s)
    {
        var sb = new StringBuilder();
        var one = new byte[1];
        while (!sb.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await s.ReadAsync(one) == 0) break;
            sb.Append((char)one[0]);
        }
        return sb.ToString();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
