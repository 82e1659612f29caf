using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace Csrun.Cri;

/// <summary>
/// Makes Go gRPC clients work over the unix socket. grpc-go (crictl, and kubelets that dial the CRI by path)
/// sends the socket path as the HTTP/2 :authority, which Kestrel rejects with RST_STREAM PROTOCOL_ERROR
/// (dotnet/aspnetcore#47043). Every request's :authority is rewritten to "localhost" on the way in, the value
/// grpc-go's own unix resolver and Kubernetes' plugin clients use.
/// </summary>
/// <remarks>
/// The server advertises an HPACK dynamic table of size 0 (Limits.Http2.HeaderTableSize), so no header block
/// depends on an earlier one (grpc-go waits for the server's SETTINGS before its first request): each HEADERS
/// frame can be rewritten on its own, without decoding Huffman strings or tracking table state. A header block
/// split across CONTINUATION frames is passed on unchanged.
/// </remarks>
internal static class UnixAuthority
{
    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;
    private const byte HeadersFrame = 0x1, EndHeaders = 0x4, Padded = 0x8, Priority = 0x20;

    public static ConnectionDelegate Middleware(ConnectionDelegate next) => async context =>
    {
        var original = context.Transport;
        var rewritten = new Pipe();
        var pump = Pump(original.Input, rewritten.Writer);
        context.Transport = new DuplexPipe(rewritten.Reader, original.Output);
        try { await next(context).ConfigureAwait(false); }
        finally
        {
            context.Transport = original;
            await original.Input.CompleteAsync().ConfigureAwait(false);
            await pump.ConfigureAwait(false);
        }
    };

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    private static async Task Pump(PipeReader input, PipeWriter output)
    {
        bool prefaceDone = false;
        Exception? error = null;
        var head = new byte[9];
        try
        {
            while (true)
            {
                ReadResult read;
                try { read = await input.ReadAsync().ConfigureAwait(false); }
                catch (InvalidOperationException) { break; } // completed by the connection's end
                var buffer = read.Buffer;
                while (true)
                {
                    if (!prefaceDone)
                    {
                        if (buffer.Length < Preface.Length) break;
                        Copy(buffer.Slice(0, Preface.Length), output);
                        buffer = buffer.Slice(Preface.Length);
                        prefaceDone = true;
                        continue;
                    }
                    if (buffer.Length < 9) break;
                    buffer.Slice(0, 9).CopyTo(head);
                    int length = (head[0] << 16) | (head[1] << 8) | head[2];
                    if (buffer.Length < 9 + length) break;
                    var frame = buffer.Slice(0, 9 + length);
                    if (head[3] == HeadersFrame && (head[4] & EndHeaders) != 0)
                        WriteHeaders(head, frame.Slice(9).ToArray(), output);
                    else
                        Copy(frame, output);
                    buffer = buffer.Slice(9 + length);
                }
                input.AdvanceTo(buffer.Start, buffer.End);
                var flush = await output.FlushAsync().ConfigureAwait(false);
                if (read.IsCompleted || read.IsCanceled || flush.IsCompleted) break;
            }
        }
        catch (Exception e) { error = e; }
        await output.CompleteAsync(error).ConfigureAwait(false);
    }

    private static void Copy(ReadOnlySequence<byte> data, PipeWriter output)
    {
        foreach (var segment in data) output.Write(segment.Span);
    }

    /// <summary>Re-emits a HEADERS frame with its :authority field (if any) replaced by "localhost".</summary>
    private static void WriteHeaders(ReadOnlySpan<byte> head, byte[] payload, PipeWriter output)
    {
        byte flags = head[4];
        int pos = 0, padLength = 0;
        if ((flags & Padded) != 0) padLength = payload[pos++];
        int blockStart = pos + ((flags & Priority) != 0 ? 5 : 0);
        int blockEnd = payload.Length - padLength;
        if (blockStart > blockEnd || !TryRewrite(payload.AsSpan(blockStart, blockEnd - blockStart), out var block))
        {
            output.Write(head);
            output.Write(payload);
            return;
        }
        int length = blockStart + block.Length + padLength;
        Span<byte> newHead = stackalloc byte[9];
        head.CopyTo(newHead);
        newHead[0] = (byte)(length >> 16);
        newHead[1] = (byte)(length >> 8);
        newHead[2] = (byte)length;
        output.Write(newHead);
        output.Write(payload.AsSpan(0, blockStart));
        output.Write(block);
        output.Write(payload.AsSpan(blockEnd));
    }

    /// <summary>Walks the HPACK representations (RFC 7541 §6) and swaps the one naming :authority (static index 1)
    /// for a literal without indexing "localhost". False when there is none or the block does not parse.</summary>
    internal static bool TryRewrite(ReadOnlySpan<byte> block, out byte[] rewritten)
    {
        rewritten = [];
        int pos = 0;
        while (pos < block.Length)
        {
            int start = pos;
            byte b = block[pos];
            if ((b & 0x80) != 0)
            {
                if (!TryInt(block, ref pos, 7, out long index)) return false;
                if (index == 1) return false; // :authority with an empty value: nothing to fix
                continue;
            }
            if ((b & 0xe0) == 0x20)
            {
                if (!TryInt(block, ref pos, 5, out _)) return false; // dynamic table size update
                continue;
            }
            int prefix = (b & 0xc0) == 0x40 ? 6 : 4;
            if (!TryInt(block, ref pos, prefix, out long nameIndex)) return false;
            if (nameIndex == 0 && !TrySkipString(block, ref pos)) return false;
            if (!TrySkipString(block, ref pos)) return false;
            if (nameIndex != 1) continue;
            // Literal without indexing, name index 1 (:authority), plain value "localhost".
            ReadOnlySpan<byte> replacement = [0x01, 0x09, .. "localhost"u8];
            rewritten = [.. block[..start], .. replacement, .. block[pos..]];
            return true;
        }
        return false;
    }

    private static bool TryInt(ReadOnlySpan<byte> s, ref int pos, int prefixBits, out long value)
    {
        int max = (1 << prefixBits) - 1;
        value = s[pos++] & max;
        if (value < max) return true;
        int shift = 0;
        while (pos < s.Length)
        {
            byte b = s[pos++];
            value += (long)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return true;
            shift += 7;
            if (shift > 28) return false;
        }
        return false;
    }

    private static bool TrySkipString(ReadOnlySpan<byte> s, ref int pos)
    {
        if (pos >= s.Length || !TryInt(s, ref pos, 7, out long length) || length > s.Length - pos) return false;
        pos += (int)length;
        return true;
    }
}
