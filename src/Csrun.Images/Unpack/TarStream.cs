using System.Buffers;
using System.Text;
using Csrun.Images.Content;

namespace Csrun.Images.Unpack;

public enum TarEntryKind : byte
{
    File, HardLink, Symlink, CharDevice, BlockDevice, Directory, Fifo,
}

/// <summary>One tar member with every header (ustar, GNU long name/link, pax) already applied.
/// Names and link targets stay bytes: tar paths are not guaranteed to be UTF-8.</summary>
public sealed class TarHeader
{
    public byte[] Name = [];
    public byte[] LinkName = [];
    public TarEntryKind Kind;
    public uint Mode, Uid, Gid, DevMajor, DevMinor;
    public long Size;
    public long MtimeSec;
    public long MtimeNsec;
    /// <summary>xattrs from pax SCHILY.xattr.* (raw bytes) and LIBARCHIVE.xattr.* (base64).</summary>
    public List<KeyValuePair<string, byte[]>>? Xattrs;

    public string DisplayName => Encoding.UTF8.GetString(Name);
}

/// <summary>
/// A forward-only tar reader over a stream: ustar, pax (path, linkpath, size, uid, gid, mtime, xattrs) and GNU
/// long names. Written here rather than taken from System.Formats.Tar because that reader decodes pax values as
/// UTF-8 strings, which destroys binary xattrs such as security.capability.
/// </summary>
public sealed class TarStream(Stream input)
{
    private readonly byte[] _block = new byte[512];
    private long _remaining, _padding;
    private bool _ended;
    private int _zeroBlocks;

    /// <summary>Reads the next member's header; false at the end of the archive.</summary>
    public bool Next(TarHeader h)
    {
        SkipData();
        byte[]? longName = null, longLink = null;
        Dictionary<string, byte[]>? pax = null;
        List<KeyValuePair<string, byte[]>>? xattrs = null;
        while (true)
        {
            if (!ReadBlock()) return false;
            if (IsZero(_block))
            {
                // Two zero blocks end the archive; some writers emit one, then EOF.
                if (++_zeroBlocks == 2 || !ReadBlock()) return false;
                if (IsZero(_block)) return false;
            }
            _zeroBlocks = 0;
            VerifyChecksum();
            byte type = _block[156];
            long size = Number(_block.AsSpan(124, 12), "size");
            switch (type)
            {
                case (byte)'x':
                    pax = ParsePax(ReadSmall(size, "pax header"), ref xattrs);
                    continue;
                case (byte)'g':
                    ReadSmall(size, "pax global header"); // global defaults (mostly comments): nothing csrun honours
                    continue;
                case (byte)'L':
                    longName = TrimNul(ReadSmall(size, "GNU long name"));
                    continue;
                case (byte)'K':
                    longLink = TrimNul(ReadSmall(size, "GNU long link"));
                    continue;
            }

            h.Name = pax?.GetValueOrDefault("path") ?? longName ?? UstarName();
            h.LinkName = pax?.GetValueOrDefault("linkpath") ?? longLink ?? Field(_block.AsSpan(157, 100)).ToArray();
            h.Mode = (uint)Number(_block.AsSpan(100, 8), "mode") & 0xFFF;
            h.Uid = (uint)(PaxNumber(pax, "uid") ?? Number(_block.AsSpan(108, 8), "uid"));
            h.Gid = (uint)(PaxNumber(pax, "gid") ?? Number(_block.AsSpan(116, 8), "gid"));
            h.Size = PaxNumber(pax, "size") ?? size;
            h.MtimeNsec = 0;
            if (pax?.GetValueOrDefault("mtime") is { } mt) (h.MtimeSec, h.MtimeNsec) = PaxTime(mt);
            else h.MtimeSec = Number(_block.AsSpan(136, 12), "mtime");
            h.DevMajor = (uint)Number(_block.AsSpan(329, 8), "devmajor");
            h.DevMinor = (uint)Number(_block.AsSpan(337, 8), "devminor");
            h.Xattrs = xattrs;
            if (pax is not null && pax.Keys.Any(k => k.StartsWith("GNU.sparse", StringComparison.Ordinal)))
                throw Bad(h, "sparse files are not supported in image layers");
            h.Kind = type switch
            {
                (byte)'0' or 0 or (byte)'7' => TarEntryKind.File,
                (byte)'1' => TarEntryKind.HardLink,
                (byte)'2' => TarEntryKind.Symlink,
                (byte)'3' => TarEntryKind.CharDevice,
                (byte)'4' => TarEntryKind.BlockDevice,
                (byte)'5' or (byte)'D' => TarEntryKind.Directory,
                (byte)'6' => TarEntryKind.Fifo,
                _ => throw Bad(h, $"unsupported tar entry type '{(char)type}'"),
            };
            // Old tars mark directories only by a trailing slash.
            if (h.Kind == TarEntryKind.File && h.Name.Length > 0 && h.Name[^1] == '/') h.Kind = TarEntryKind.Directory;
            bool hasData = h.Kind == TarEntryKind.File;
            _remaining = hasData ? h.Size : 0;
            // Other members may carry a size (hardlinks from some writers): their data is skipped, not read.
            long stored = type is (byte)'1' or (byte)'2' or (byte)'3' or (byte)'4' or (byte)'5' or (byte)'6' ? size : h.Size;
            if (!hasData) _remaining = stored;
            _padding = (512 - stored % 512) % 512;
            if (!hasData) SkipData();
            return true;
        }
    }

    /// <summary>Reads the current member's data; 0 at its end.</summary>
    public int Read(Span<byte> buffer)
    {
        if (_remaining == 0) return 0;
        int want = (int)Math.Min(buffer.Length, _remaining);
        int n = input.Read(buffer[..want]);
        if (n == 0) throw new ImageException("layer: tar archive truncated inside a file's data");
        _remaining -= n;
        return n;
    }

    private void SkipData()
    {
        long data = _remaining, padding = _padding;
        _remaining = _padding = 0;
        Skip(data, "layer: tar archive truncated");
        // A stream that ends right after the last member's data, with no padding or end blocks, ends there:
        // Go's archive/tar (docker, containerd, umoci) reads it so, and umoci writes such layers.
        if (padding > 0 && Skip(padding, "layer: tar archive truncated inside padding", endOk: true)) _ended = true;
    }

    /// <summary>Skips <paramref name="count"/> bytes; true when the stream ended before the first of them (and that is allowed).</summary>
    private bool Skip(long count, string truncated, bool endOk = false)
    {
        if (count == 0) return false;
        var buf = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long left = count;
            while (left > 0)
            {
                int n = input.Read(buf, 0, (int)Math.Min(buf.Length, left));
                if (n == 0)
                {
                    if (endOk && left == count) return true;
                    throw new ImageException(truncated);
                }
                left -= n;
            }
            return false;
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    private bool ReadBlock()
    {
        if (_ended) return false;
        int got = input.ReadAtLeast(_block, 512, throwOnEndOfStream: false);
        if (got == 0) return false;
        if (got < 512) throw new ImageException("layer: tar archive truncated inside a header");
        return true;
    }

    private byte[] ReadSmall(long size, string what)
    {
        if (size is < 0 or > 16 << 20) throw new ImageException($"layer: {what} of {size} bytes is implausible");
        var data = new byte[size];
        input.ReadExactly(data);
        long pad = (512 - size % 512) % 512;
        if (pad > 0) input.ReadExactly(_block.AsSpan(0, (int)pad));
        return data;
    }

    private byte[] UstarName()
    {
        var name = Field(_block.AsSpan(0, 100));
        // POSIX ustar (magic "ustar\0") splits long names into prefix/name; GNU ("ustar  ") uses the area otherwise.
        bool posix = _block.AsSpan(257, 6).SequenceEqual("ustar\0"u8);
        var prefix = posix ? Field(_block.AsSpan(345, 155)) : default;
        return prefix.IsEmpty ? name.ToArray() : [.. prefix, (byte)'/', .. name];
    }

    private void VerifyChecksum()
    {
        long stored = Number(_block.AsSpan(148, 8), "checksum");
        long unsigned = 0, signed = 0;
        for (int i = 0; i < 512; i++)
        {
            byte b = i is >= 148 and < 156 ? (byte)' ' : _block[i];
            unsigned += b;
            signed += (sbyte)b;
        }
        if (stored != unsigned && stored != signed) throw new ImageException("layer: not a tar archive (header checksum mismatch)");
    }

    private static Dictionary<string, byte[]> ParsePax(byte[] data, ref List<KeyValuePair<string, byte[]>>? xattrs)
    {
        var d = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        int pos = 0;
        while (pos < data.Length)
        {
            int sp = Array.IndexOf(data, (byte)' ', pos);
            if (sp < 0 || !int.TryParse(data.AsSpan(pos, sp - pos), out int len) || len <= 0 || pos + len > data.Length)
                throw new ImageException("layer: malformed pax header record");
            var rec = data.AsSpan(sp + 1, pos + len - sp - 2); // without the trailing newline
            int eq = rec.IndexOf((byte)'=');
            if (eq < 0) throw new ImageException("layer: malformed pax header record");
            string key = Encoding.UTF8.GetString(rec[..eq]);
            byte[] value = rec[(eq + 1)..].ToArray();
            if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                (xattrs ??= []).Add(new(key["SCHILY.xattr.".Length..], value));
            else if (key.StartsWith("LIBARCHIVE.xattr.", StringComparison.Ordinal))
                (xattrs ??= []).Add(new(Uri.UnescapeDataString(key["LIBARCHIVE.xattr.".Length..]), Convert.FromBase64String(Encoding.ASCII.GetString(value))));
            else d[key] = value;
            pos += len;
        }
        return d;
    }

    private static long? PaxNumber(Dictionary<string, byte[]>? pax, string key) =>
        pax?.GetValueOrDefault(key) is { } v ? long.TryParse(v, out long n) && n >= 0 ? n
            : throw new ImageException($"layer: pax {key} \"{Encoding.UTF8.GetString(v)}\" is not a number") : null;

    private static (long, long) PaxTime(byte[] v)
    {
        var s = Encoding.ASCII.GetString(v);
        int dot = s.IndexOf('.');
        if (!long.TryParse(dot < 0 ? s : s[..dot], out long sec)) throw new ImageException($"layer: pax mtime \"{s}\" is not a time");
        long nsec = 0;
        if (dot >= 0)
        {
            var frac = s[(dot + 1)..].PadRight(9, '0')[..9];
            if (!long.TryParse(frac, out nsec)) nsec = 0;
        }
        return (sec, nsec);
    }

    /// <summary>Octal ASCII (NUL/space padded), or GNU base-256 when the top bit is set.</summary>
    private static long Number(ReadOnlySpan<byte> f, string what)
    {
        if (f.Length > 0 && (f[0] & 0x80) != 0)
        {
            if ((f[0] & 0x40) != 0) throw new ImageException($"layer: negative {what} in a tar header");
            long v = f[0] & 0x3f;
            for (int i = 1; i < f.Length; i++) v = checked((v << 8) | f[i]);
            return v;
        }
        long n = 0;
        bool digits = false;
        foreach (byte b in f)
        {
            if (b is (byte)' ' or 0) { if (digits) break; continue; }
            if (b is < (byte)'0' or > (byte)'7') throw new ImageException($"layer: invalid {what} in a tar header (not a tar archive?)");
            n = checked(n * 8 + (b - '0'));
            digits = true;
        }
        return n;
    }

    private static ReadOnlySpan<byte> Field(ReadOnlySpan<byte> f)
    {
        int nul = f.IndexOf((byte)0);
        return nul < 0 ? f : f[..nul];
    }

    private static byte[] TrimNul(byte[] b)
    {
        int nul = Array.IndexOf(b, (byte)0);
        return nul < 0 ? b : b[..nul];
    }

    private static bool IsZero(byte[] b) => b.AsSpan().IndexOfAnyExcept((byte)0) < 0;

    private static ImageException Bad(TarHeader h, string why) => new($"layer entry \"{h.DisplayName}\": {why}");
}
