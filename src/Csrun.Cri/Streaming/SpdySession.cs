using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;

namespace Csrun.Cri.Streaming;

/// <summary>
/// SPDY/3.1 as Kubernetes streaming uses it (moby/spdystream on the other end): streams opened with SYN_STREAM
/// and answered with SYN_REPLY, DATA with FIN half-closes, RST_STREAM, PING echoed, GOAWAY. Flow control
/// windows are not enforced, as spdystream does not enforce them either. One session per upgraded connection;
/// the server side takes the streams its peer opens, the client side (tests) opens them.
/// </summary>
internal sealed class SpdySession : IAsyncDisposable
{
    private const ushort Version = 3;
    private const ushort SynStream = 1, SynReply = 2, RstStream = 3, Settings = 4, Ping = 6, GoAway = 7, Headers = 8, WindowUpdate = 9;
    private const byte FlagFin = 1;
    internal const int MaxDataFrame = 32 * 1024;

    private readonly Stream _transport;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly SpdyZlib _compressor = SpdyZlib.Compressor();
    private readonly SpdyZlib _decompressor = SpdyZlib.Decompressor();
    private readonly ConcurrentDictionary<int, SpdyStream> _streams = new();
    private readonly Channel<SpdyStream> _incoming = Channel.CreateUnbounded<SpdyStream>();
    private int _nextId;

    public SpdySession(Stream transport, bool server)
    {
        _transport = transport;
        _nextId = server ? 2 : 1;
    }

    /// <summary>Streams the peer opened, already answered with SYN_REPLY.</summary>
    public ChannelReader<SpdyStream> IncomingStreams => _incoming.Reader;

    /// <summary>Reads frames until the peer goes away; then every stream's input ends.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var header = new byte[8];
        try
        {
            while (true)
            {
                if (!await ReadExactlyAsync(header, cancellationToken)) break;
                uint first = BinaryPrimitives.ReadUInt32BigEndian(header);
                uint second = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
                byte flags = (byte)(second >> 24);
                var payload = new byte[second & 0xFFFFFF];
                if (!await ReadExactlyAsync(payload, cancellationToken)) break;
                if ((first & 0x80000000) == 0)
                {
                    await OnDataAsync((int)(first & 0x7FFFFFFF), flags, payload, cancellationToken);
                    continue;
                }
                ushort type = (ushort)(first & 0xFFFF);
                if (type == GoAway) break;
                await OnControlAsync(type, flags, payload, cancellationToken);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidDataException)
        {
            // The connection ended under us: same as a clean end for the streams.
        }
        finally
        {
            _incoming.Writer.TryComplete();
            foreach (var s in _streams.Values) s.EndInput();
        }
    }

    private async Task OnControlAsync(ushort type, byte flags, byte[] p, CancellationToken cancellationToken)
    {
        switch (type)
        {
            case SynStream:
            {
                int id = (int)(BinaryPrimitives.ReadUInt32BigEndian(p) & 0x7FFFFFFF);
                var headers = ParseHeaders(_decompressor.Decompress(p.AsSpan(10)));
                var stream = new SpdyStream(this, id, headers);
                _streams[id] = stream;
                if ((flags & FlagFin) != 0) stream.EndInput();
                await WriteControlAsync(SynReply, 0, [.. U32(id), .. CompressHeaders(new Dictionary<string, string>())], cancellationToken);
                stream.Replied.TrySetResult();
                await _incoming.Writer.WriteAsync(stream, cancellationToken);
                break;
            }
            case SynReply:
            {
                int id = (int)(BinaryPrimitives.ReadUInt32BigEndian(p) & 0x7FFFFFFF);
                _decompressor.Decompress(p.AsSpan(4)); // keeps the shared zlib stream in step
                if (_streams.TryGetValue(id, out var s))
                {
                    s.Replied.TrySetResult();
                    if ((flags & FlagFin) != 0) s.EndInput();
                }
                break;
            }
            case Headers:
                _decompressor.Decompress(p.AsSpan(4));
                break;
            case RstStream:
            {
                int id = (int)(BinaryPrimitives.ReadUInt32BigEndian(p) & 0x7FFFFFFF);
                if (_streams.TryRemove(id, out var s))
                {
                    s.Replied.TrySetException(new IOException($"stream {id} was reset by the peer"));
                    s.Reset();
                }
                break;
            }
            case Ping:
                await WriteControlAsync(Ping, 0, p, cancellationToken);
                break;
            case Settings or WindowUpdate:
                break;
        }
    }

    private async Task OnDataAsync(int id, byte flags, byte[] data, CancellationToken cancellationToken)
    {
        if (!_streams.TryGetValue(id, out var s)) return;
        if (data.Length > 0) await s.DeliverAsync(data, cancellationToken);
        if ((flags & FlagFin) != 0) s.EndInput();
    }

    /// <summary>Opens a stream (client side) and waits for the peer's SYN_REPLY.</summary>
    public async Task<SpdyStream> OpenStreamAsync(IReadOnlyDictionary<string, string> headers, CancellationToken cancellationToken = default)
    {
        int id = Interlocked.Add(ref _nextId, 2) - 2;
        var stream = new SpdyStream(this, id, headers);
        _streams[id] = stream;
        byte[] block = CompressHeaders(headers);
        await WriteControlAsync(SynStream, 0, [.. U32(id), .. U32(0), 0, 0, .. block], cancellationToken);
        await stream.Replied.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        return stream;
    }

    internal async Task WriteDataAsync(int id, ReadOnlyMemory<byte> data, bool fin, CancellationToken cancellationToken)
    {
        do
        {
            var chunk = data[..Math.Min(data.Length, MaxDataFrame)];
            data = data[chunk.Length..];
            var frame = new byte[8 + chunk.Length];
            BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)id & 0x7FFFFFFF);
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)((fin && data.IsEmpty ? FlagFin : 0) << 24) | (uint)chunk.Length);
            chunk.Span.CopyTo(frame.AsSpan(8));
            await WriteFrameAsync(frame, cancellationToken);
        } while (!data.IsEmpty);
    }

    internal Task ResetAsync(int id, uint status = 5 /* CANCEL */) =>
        WriteControlAsync(RstStream, 0, [.. U32(id), .. U32((int)status)], CancellationToken.None);

    public Task GoAwayAsync() => WriteControlAsync(GoAway, 0, [.. U32(0), .. U32(0)], CancellationToken.None);

    private async Task WriteControlAsync(ushort type, byte flags, byte[] payload, CancellationToken cancellationToken)
    {
        var frame = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, 0x80000000 | ((uint)Version << 16) | type);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), ((uint)flags << 24) | (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(8));
        await WriteFrameAsync(frame, cancellationToken);
    }

    private async Task WriteFrameAsync(byte[] frame, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await _transport.WriteAsync(frame, cancellationToken);
            await _transport.FlushAsync(cancellationToken);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private byte[] CompressHeaders(IReadOnlyDictionary<string, string> headers)
    {
        var block = new MemoryStream();
        block.Write(U32(headers.Count));
        foreach (var (name, value) in headers)
        {
            byte[] n = Encoding.UTF8.GetBytes(name.ToLowerInvariant()), v = Encoding.UTF8.GetBytes(value);
            block.Write(U32(n.Length));
            block.Write(n);
            block.Write(U32(v.Length));
            block.Write(v);
        }
        return _compressor.Compress(block.ToArray());
    }

    /// <summary>A name/value block; a name given twice or a NUL-separated value keeps its first value.</summary>
    internal static Dictionary<string, string> ParseHeaders(ReadOnlySpan<byte> block)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int count = BinaryPrimitives.ReadInt32BigEndian(block);
        int at = 4;
        for (int i = 0; i < count; i++)
        {
            int nl = BinaryPrimitives.ReadInt32BigEndian(block[at..]);
            string name = Encoding.UTF8.GetString(block.Slice(at + 4, nl));
            at += 4 + nl;
            int vl = BinaryPrimitives.ReadInt32BigEndian(block[at..]);
            string value = Encoding.UTF8.GetString(block.Slice(at + 4, vl));
            at += 4 + vl;
            headers.TryAdd(name, value.Split('\0')[0]);
        }
        return headers;
    }

    private static byte[] U32(int v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b, v);
        return b;
    }

    private async Task<bool> ReadExactlyAsync(byte[] buffer, CancellationToken cancellationToken)
    {
        int n = 0;
        while (n < buffer.Length)
        {
            int got = await _transport.ReadAsync(buffer.AsMemory(n), cancellationToken);
            if (got == 0) return false;
            n += got;
        }
        return true;
    }

    internal void Forget(int id) => _streams.TryRemove(id, out _);

    public async ValueTask DisposeAsync()
    {
        try { await _transport.DisposeAsync(); } catch (IOException) { }
        _compressor.Dispose();
        _decompressor.Dispose();
    }
}

/// <summary>One SPDY stream: its headers, what the peer sends (<see cref="Input"/>) and a way to send.</summary>
internal sealed class SpdyStream
{
    private readonly SpdySession _session;
    private readonly Pipe _input = new();
    private int _closed;

    internal SpdyStream(SpdySession session, int id, IReadOnlyDictionary<string, string> headers)
    {
        _session = session;
        Id = id;
        Headers = headers;
    }

    public int Id { get; }
    public IReadOnlyDictionary<string, string> Headers { get; }
    internal TaskCompletionSource Replied { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string? Header(string name) => Headers.TryGetValue(name, out string? v) ? v : null;

    /// <summary>What the peer sends on this stream; ends at its FIN (or a reset, or the session's end).</summary>
    public Stream Input => _input.Reader.AsStream();

    internal async Task DeliverAsync(byte[] data, CancellationToken cancellationToken)
    {
        try { await _input.Writer.WriteAsync(data, cancellationToken); }
        catch (InvalidOperationException) { } // input already ended
    }

    internal void EndInput() => _input.Writer.Complete();

    internal void Reset()
    {
        _input.Writer.Complete();
        Interlocked.Exchange(ref _closed, 1);
    }

    public Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        Volatile.Read(ref _closed) != 0 ? Task.CompletedTask : _session.WriteDataAsync(Id, data, fin: false, cancellationToken);

    /// <summary>Half-closes: an empty DATA frame with FIN.</summary>
    public async Task CloseAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        try { await _session.WriteDataAsync(Id, ReadOnlyMemory<byte>.Empty, fin: true, CancellationToken.None); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    }
}
