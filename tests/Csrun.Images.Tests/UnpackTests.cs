using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Csrun.Images.Content;
using Csrun.Images.Unpack;
using Csrun.Linux;

namespace Csrun.Images.Tests;

/// <summary>Layer unpack on the real filesystem (root): formats, metadata, whiteouts, and hostile archives.</summary>
public sealed class UnpackTests : IDisposable
{
    private readonly string _dir = Path.Combine("/var/tmp", "csrun-unpack-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly string _target, _outside;

    public UnpackTests()
    {
        _target = Path.Combine(_dir, "target");
        _outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(_target);
        Directory.CreateDirectory(_outside);
        File.WriteAllText(Path.Combine(_outside, "keep"), "untouched");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Tar(TarEntryFormat format, params (TarEntryType Type, string Name, string? Data, string? Link)[] entries)
    {
        using var ms = new MemoryStream();
        using (var w = new TarWriter(ms, format, leaveOpen: true))
            foreach (var (type, name, data, link) in entries)
            {
                TarEntry e = format switch
                {
                    TarEntryFormat.Gnu => new GnuTarEntry(type, name),
                    TarEntryFormat.Ustar => new UstarTarEntry(type, name),
                    _ => new PaxTarEntry(type, name),
                };
                if (data is not null) e.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(data));
                if (link is not null) e.LinkName = link;
                e.Mode = type == TarEntryType.Directory ? (UnixFileMode)0x1ed : (UnixFileMode)0x1a4;
                w.WriteEntry(e);
            }
        return ms.ToArray();
    }

    private UnpackResult Unpack(byte[] layer, bool rootless = false) =>
        LayerUnpacker.Unpack(new MemoryStream(layer), _target, new UnpackOptions { Rootless = rootless });

    private void AssertOutsideUntouched()
    {
        Assert.Equal(["keep"], Directory.GetFileSystemEntries(_outside).Select(Path.GetFileName));
        Assert.Equal("untouched", File.ReadAllText(Path.Combine(_outside, "keep")));
    }

    private unsafe Files.Stat Stat(string rel)
    {
        Files.Stat st;
        fixed (byte* p = Encoding.UTF8.GetBytes(Path.Combine(_target, rel) + "\0"))
            Assert.Equal(0, Files.FstatAt(Libc.AT_FDCWD, p, &st, Files.AT_SYMLINK_NOFOLLOW));
        return st;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint lgetxattr(string path, string name, byte[] value, nuint size);

    private static byte[]? Xattr(string path, string name)
    {
        var buf = new byte[256];
        nint n = lgetxattr(path, name, buf, (nuint)buf.Length);
        return n < 0 ? null : buf[..(int)n];
    }

    [Fact]
    public void EveryEntryTypeWithOwnershipModesAndTimes()
    {
        using var ms = new MemoryStream();
        using (var w = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
        {
            var mtime = new DateTimeOffset(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "dir/") { Mode = (UnixFileMode)0x1e8, Uid = 1234, Gid = 2345, ModificationTime = mtime });
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "dir/file") { Mode = (UnixFileMode)0x1a4, Uid = 1000, Gid = 1001, ModificationTime = mtime, DataStream = new MemoryStream("content"u8.ToArray()) });
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "suid") { Mode = (UnixFileMode)0x9ed, Uid = 0, DataStream = new MemoryStream("x"u8.ToArray()) });
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "link") { LinkName = "/dir/file", Uid = 7, Gid = 8, ModificationTime = mtime });
            w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "hard") { LinkName = "dir/file" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "null") { DeviceMajor = 1, DeviceMinor = 3, Mode = (UnixFileMode)0x1b6 });
            w.WriteEntry(new PaxTarEntry(TarEntryType.BlockDevice, "loop") { DeviceMajor = 7, DeviceMinor = 200, Mode = (UnixFileMode)0x180 });
            w.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "fifo") { Mode = (UnixFileMode)0x1a4 });
        }
        var r = Unpack(ms.ToArray());
        Assert.Equal(8, r.Entries);
        Assert.Equal("content", File.ReadAllText(Path.Combine(_target, "dir/file")));
        var dir = Stat("dir");
        Assert.Equal((0x41e8u, 1234u, 2345u), (dir.Mode, dir.Uid, dir.Gid));
        Assert.Equal(new DateTimeOffset(2020, 1, 2, 3, 4, 5, TimeSpan.Zero).ToUnixTimeSeconds(), dir.Mtime.Sec); // set after its child was written
        var file = Stat("dir/file");
        Assert.Equal((0x81a4u, 1000u, 1001u), (file.Mode, file.Uid, file.Gid));
        Assert.Equal(0x89edu, Stat("suid").Mode); // setuid survives chown
        var link = Stat("link");
        Assert.Equal(0xA000u, link.Mode & 0xF000);
        Assert.Equal((7u, 8u), (link.Uid, link.Gid));
        Assert.Equal("/dir/file", new FileInfo(Path.Combine(_target, "link")).LinkTarget);
        Assert.Equal(file.Ino, Stat("hard").Ino);
        var dev = Stat("null");
        Assert.Equal((0x21b6u, (1ul << 8) | 3), (dev.Mode, dev.Rdev));
        Assert.Equal(0x6180u, Stat("loop").Mode);
        Assert.Equal(0x11a4u, Stat("fifo").Mode);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    [InlineData("plain")]
    public void CompressionIsDetectedAndDiffIdIsTheTarsDigest(string kind)
    {
        var tar = Tar(TarEntryFormat.Pax, (TarEntryType.Directory, "etc/", null, null), (TarEntryType.RegularFile, "etc/hostname", "box\n", null));
        byte[] layer = kind switch
        {
            "gzip" => Compress(tar, s => new GZipStream(s, CompressionLevel.Fastest)),
            "zstd" => Compress(tar, s => new ZstdSharp.CompressionStream(s, 3)),
            _ => tar,
        };
        var r = Unpack(layer);
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar)), r.DiffId.ToString());
        Assert.Equal(tar.Length, r.UncompressedSize);
        Assert.Equal("box\n", File.ReadAllText(Path.Combine(_target, "etc/hostname")));
    }

    private static byte[] Compress(byte[] data, Func<Stream, Stream> wrap)
    {
        using var ms = new MemoryStream();
        using (var z = wrap(ms)) z.Write(data);
        return ms.ToArray();
    }

    [Theory]
    [InlineData(TarEntryFormat.Pax)]
    [InlineData(TarEntryFormat.Gnu)]
    [InlineData(TarEntryFormat.Ustar)]
    public void LongNamesInEachFormat(TarEntryFormat format)
    {
        // ustar holds 255 bytes via its prefix field; pax and GNU go further.
        string dir = string.Join('/', Enumerable.Repeat(new string('d', 60), format == TarEntryFormat.Ustar ? 2 : 5));
        string name = dir + "/" + new string('f', 90);
        var tar = Tar(format, (TarEntryType.Directory, dir + "/", null, null), (TarEntryType.RegularFile, name, "long", null),
            (TarEntryType.SymbolicLink, "ln", null, format == TarEntryFormat.Ustar ? "short" : "/" + name));
        Unpack(tar);
        Assert.Equal("long", File.ReadAllText(Path.Combine(_target, name)));
        Assert.Equal(format == TarEntryFormat.Ustar ? "short" : "/" + name, new FileInfo(Path.Combine(_target, "ln")).LinkTarget);
    }

    [Fact]
    public void BinaryXattrsArriveByteForByte()
    {
        // security.capability is binary (vfs_cap_data): cap_net_bind_service=ep, revision 2.
        byte[] cap = [0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        byte[] bin = [0xff, 0x00, 0xfe, 0x80];
        var tar = RawTar.Build(w =>
        {
            w.Pax(("SCHILY.xattr.security.capability", cap), ("SCHILY.xattr.user.bin", bin));
            w.File("ping", "elf"u8.ToArray(), mode: 0x1ed);
            w.Pax(("LIBARCHIVE.xattr.user.b64", Encoding.ASCII.GetBytes(Convert.ToBase64String("hello"u8.ToArray()))));
            w.File("other", "x"u8.ToArray());
        });
        Unpack(tar);
        Assert.Equal(cap, Xattr(Path.Combine(_target, "ping"), "security.capability"));
        Assert.Equal(bin, Xattr(Path.Combine(_target, "ping"), "user.bin"));
        Assert.Equal("hello"u8.ToArray(), Xattr(Path.Combine(_target, "other"), "user.b64"));
    }

    [Fact]
    public void WhiteoutsBecomeOverlayWhiteoutsAndOpaqueDirectories()
    {
        var tar = Tar(TarEntryFormat.Pax,
            (TarEntryType.Directory, "data/", null, null),
            (TarEntryType.RegularFile, "data/.wh.gone", "", null),
            (TarEntryType.Directory, "opt/", null, null),
            (TarEntryType.RegularFile, "opt/.wh..wh..opq", "", null),
            (TarEntryType.RegularFile, "opt/new", "n", null),
            (TarEntryType.RegularFile, ".wh.toplevel", "", null));
        Unpack(tar);
        var wh = Stat("data/gone");
        Assert.Equal((0x2000u, 0ul), (wh.Mode & 0xF000, wh.Rdev));
        Assert.True(File.Exists(Path.Combine(_target, "toplevel")) || Stat("toplevel").Mode != 0);
        Assert.Equal("y"u8.ToArray(), Xattr(Path.Combine(_target, "opt"), "trusted.overlay.opaque"));
        Assert.False(File.Exists(Path.Combine(_target, "opt/.wh..wh..opq")));
        Assert.Equal("n", File.ReadAllText(Path.Combine(_target, "opt/new")));
    }

    [Fact]
    public void LaterEntriesReplaceEarlierOnes()
    {
        var tar = Tar(TarEntryFormat.Pax,
            (TarEntryType.RegularFile, "a", "first", null),
            (TarEntryType.RegularFile, "a", "second", null),
            (TarEntryType.Directory, "d/", null, null),
            (TarEntryType.RegularFile, "d/inner", "x", null),
            (TarEntryType.RegularFile, "d", "now a file", null),
            (TarEntryType.SymbolicLink, "s", null, "a"),
            (TarEntryType.Directory, "s/", null, null),
            (TarEntryType.RegularFile, "implicit/parent/file", "made", null));
        Unpack(tar);
        Assert.Equal("second", File.ReadAllText(Path.Combine(_target, "a")));
        Assert.Equal("now a file", File.ReadAllText(Path.Combine(_target, "d")));
        Assert.True(Directory.Exists(Path.Combine(_target, "s")) && new DirectoryInfo(Path.Combine(_target, "s")).LinkTarget is null);
        Assert.Equal("made", File.ReadAllText(Path.Combine(_target, "implicit/parent/file")));
    }

    [Theory]
    [InlineData("../escape", "escapes the layer root")]
    [InlineData("a/../../escape", "escapes the layer root")]
    [InlineData("/../escape", "escapes the layer root")]
    public void TraversalIsRejected(string name, string why)
    {
        var tar = Tar(TarEntryFormat.Pax, (TarEntryType.RegularFile, name, "evil", null));
        var e = Assert.Throws<ImageException>(() => Unpack(tar));
        Assert.Contains($"layer entry \"{name}\"", e.Message);
        Assert.Contains(why, e.Message);
        AssertOutsideUntouched();
    }

    [Fact]
    public void AStreamEndingAfterTheLastData_EndsThere_ButNotInsideDataOrPadding()
    {
        // umoci writes layers that stop right after the last file's bytes (no padding, no end blocks); Go's
        // archive/tar, and so docker and containerd, read them to the end.
        byte[] full = Tar(TarEntryFormat.Pax, (TarEntryType.RegularFile, "f", "hello", null));
        int dataEnd = Array.LastIndexOf(full, (byte)'o') + 1;
        Unpack(full[..dataEnd]);
        Assert.Equal("hello", File.ReadAllText(Path.Combine(_target, "f")));
        Assert.Contains("truncated", Assert.Throws<ImageException>(() => Unpack(full[..(dataEnd - 1)])).Message);
        Assert.Contains("truncated inside padding", Assert.Throws<ImageException>(() => Unpack(full[..(dataEnd + 3)])).Message);
    }

    [Fact]
    public void AbsoluteNames_AreRootedAtTheLayerRoot()
    {
        // As docker and containerd read them; umoci writes the root directory itself as "/".
        var tar = Tar(TarEntryFormat.Pax, (TarEntryType.Directory, "/", null, null), (TarEntryType.Directory, "/abs/", null, null),
            (TarEntryType.RegularFile, "/abs/path", "inside", null), (TarEntryType.HardLink, "/abs/link", null, "/abs/path"));
        Unpack(tar);
        Assert.Equal("inside", File.ReadAllText(Path.Combine(_target, "abs/path")));
        Assert.Equal("inside", File.ReadAllText(Path.Combine(_target, "abs/link")));
        AssertOutsideUntouched();
    }

    [Fact]
    public void SymlinkedParentsAreNeverFollowed()
    {
        foreach (var target in new[] { _outside, "../outside", "../../" + Path.GetFileName(_dir) + "/outside" })
        {
            Directory.Delete(_target, true);
            Directory.CreateDirectory(_target);
            var tar = Tar(TarEntryFormat.Pax, (TarEntryType.SymbolicLink, "evil", null, target), (TarEntryType.RegularFile, "evil/pwned", "x", null));
            var e = Assert.Throws<ImageException>(() => Unpack(tar));
            Assert.Contains("layer entry \"evil/pwned\"", e.Message);
            Assert.Contains("symlink", e.Message);
            AssertOutsideUntouched();
        }
        // A chain: a -> b, b -> ../outside, then a/x.
        Directory.Delete(_target, true);
        Directory.CreateDirectory(_target);
        var chain = Tar(TarEntryFormat.Pax, (TarEntryType.SymbolicLink, "b", null, "../outside"), (TarEntryType.SymbolicLink, "a", null, "b"), (TarEntryType.RegularFile, "a/x", "x", null));
        Assert.Throws<ImageException>(() => Unpack(chain));
        AssertOutsideUntouched();
    }

    [Fact]
    public void HardlinksOutsideOrThroughSymlinksAreRejected()
    {
        var e = Assert.Throws<ImageException>(() => Unpack(Tar(TarEntryFormat.Pax, (TarEntryType.HardLink, "passwd", null, "../outside/keep"))));
        Assert.Contains("escapes the layer root", e.Message);
        Directory.Delete(_target, true);
        Directory.CreateDirectory(_target);
        e = Assert.Throws<ImageException>(() => Unpack(Tar(TarEntryFormat.Pax,
            (TarEntryType.SymbolicLink, "out", null, _outside), (TarEntryType.HardLink, "stolen", null, "out/keep"))));
        Assert.Contains("outside the layer or behind a symlink", e.Message);
        Assert.False(File.Exists(Path.Combine(_target, "stolen")));
        Assert.Equal(1, new FileInfo(Path.Combine(_outside, "keep")).Length > 0 ? 1 : 0);
        AssertOutsideUntouched();
    }

    [Fact]
    public void DevicesAreRefusedInARootlessUnpack()
    {
        using var ms = new MemoryStream();
        using (var w = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
            w.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "dev/mem") { DeviceMajor = 1, DeviceMinor = 1 });
        var e = Assert.Throws<ImageException>(() => Unpack(ms.ToArray(), rootless: true));
        Assert.Contains("layer entry \"dev/mem\": device nodes cannot be created in a rootless unpack", e.Message);
    }

    [Fact]
    public void CorruptAndTruncatedLayersFailClearly()
    {
        var tar = Tar(TarEntryFormat.Pax, (TarEntryType.RegularFile, "f", new string('x', 5000), null));
        var gz = Compress(tar, s => new GZipStream(s, CompressionLevel.Fastest));
        Assert.Throws<ImageException>(() => Unpack(gz[..(gz.Length / 2)]));
        Directory.Delete(_target, true);
        Directory.CreateDirectory(_target);
        Assert.Contains("truncated", Assert.Throws<ImageException>(() => Unpack(tar[..1500])).Message);
        Assert.Contains("not a tar archive", Assert.Throws<ImageException>(() => Unpack(new byte[1024].Select((_, i) => (byte)(i % 7 + 1)).ToArray())).Message);
    }
}

/// <summary>A minimal tar writer for what TarWriter cannot express (binary pax values).</summary>
internal sealed class RawTar
{
    private readonly MemoryStream _ms = new();

    public static byte[] Build(Action<RawTar> fill)
    {
        var t = new RawTar();
        fill(t);
        t._ms.Write(new byte[1024]);
        return t._ms.ToArray();
    }

    public void Pax(params (string Key, byte[] Value)[] records)
    {
        using var body = new MemoryStream();
        foreach (var (k, v) in records)
        {
            int baseLen = Encoding.UTF8.GetByteCount(k) + v.Length + 3; // ' ', '=', '\n'
            int len = baseLen + 1;
            while (len != baseLen + len.ToString().Length) len = baseLen + len.ToString().Length;
            body.Write(Encoding.ASCII.GetBytes($"{len} {k}="));
            body.Write(v);
            body.WriteByte((byte)'\n');
        }
        Entry("PaxHeaders/x", (byte)'x', body.ToArray(), 0x1a4);
    }

    public void File(string name, byte[] data, int mode = 0x1a4) => Entry(name, (byte)'0', data, mode);

    private void Entry(string name, byte type, byte[] data, int mode)
    {
        var h = new byte[512];
        Encoding.ASCII.GetBytes(name).CopyTo(h, 0);
        Octal(h, 100, 8, mode);
        Octal(h, 108, 8, 0);
        Octal(h, 116, 8, 0);
        Octal(h, 124, 12, data.Length);
        Octal(h, 136, 12, 0);
        h[156] = type;
        "ustar\0"u8.CopyTo(h.AsSpan(257));
        "00"u8.CopyTo(h.AsSpan(263));
        for (int i = 148; i < 156; i++) h[i] = (byte)' ';
        Octal(h, 148, 7, h.Sum(b => (int)b));
        _ms.Write(h);
        _ms.Write(data);
        _ms.Write(new byte[(512 - data.Length % 512) % 512]);
    }

    private static void Octal(byte[] h, int at, int width, long v) =>
        Encoding.ASCII.GetBytes(Convert.ToString(v, 8).PadLeft(width - 1, '0')).CopyTo(h, at);
}
