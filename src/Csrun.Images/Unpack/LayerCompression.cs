using System.IO.Compression;
using System.Security.Cryptography;
using Csrun.Images.Content;

namespace Csrun.Images.Unpack;

/// <summary>Layer streams: compression detected from magic bytes (media types lie often enough), and a
/// pass-through that hashes the uncompressed tar for its diffID.</summary>
public static class LayerCompression
{
    /// <summary>gzip (1f 8b), zstd (28 b5 2f fd) or else a plain tar.</summary>
    public static Stream OpenDecompressed(Stream layer)
    {
        var head = new byte[4];
        int n = layer.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        var replay = new PrefixedStream(head.AsMemory(0, n), layer);
        if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b)
            return new GZipStream(replay, CompressionMode.Decompress);
        if (n == 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd)
            return new ZstdSharp.DecompressionStream(replay, bufferSize: 1 << 17);
        return replay;
    }
}

/// <summary>Replays bytes already read (the magic) before the rest of the stream.</summary>
internal sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : Stream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_prefix.IsEmpty) return inner.Read(buffer);
        int n = Math.Min(buffer.Length, _prefix.Length);
        _prefix.Span[..n].CopyTo(buffer);
        _prefix = _prefix[n..];
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Counts and SHA-256-hashes every byte read through it.</summary>
internal sealed class HashingStream(Stream inner) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    public long BytesRead { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        _hash.AppendData(buffer[..n]);
        BytesRead += n;
        return n;
    }

    /// <summary>Reads what is left (tar's trailing zero blocks and padding count toward the diffID) and returns the digest.</summary>
    public Digest Finish()
    {
        var buf = new byte[64 * 1024];
        while (Read(buf) > 0) { }
        return Digest.Parse("sha256:" + Convert.ToHexStringLower(_hash.GetHashAndReset()));
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) { inner.Dispose(); _hash.Dispose(); }
        base.Dispose(disposing);
    }
}
