using System.Text;
using Csrun.Images.Content;
using Csrun.Linux;

namespace Csrun.Images.Unpack;

public sealed record UnpackOptions
{
    /// <summary>Unpacking without root: device nodes are refused, ownership the caller cannot set is left as is,
    /// and opaque directories are marked with user.overlay.opaque (overlayfs' userxattr mode).</summary>
    public bool Rootless { get; init; }
}

public sealed record UnpackResult(Digest DiffId, long UncompressedSize, int Entries);

/// <summary>
/// Streams one layer (gzip, zstd or plain tar) into a directory: no temporary tar, the diffID hashed on the way.
/// Every path is resolved below the target with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) and every
/// member is created with *at calls that do not follow symlinks, so no entry — "..", an absolute path, a
/// symlinked parent, a hardlink to outside — can write outside the target. Whiteouts become overlayfs
/// whiteouts (0/0 character devices) and opaque markers (trusted.overlay.opaque=y).
/// </summary>
public static class LayerUnpacker
{
    public static UnpackResult Unpack(Stream layer, string targetDir, UnpackOptions? options = null)
    {
        options ??= new UnpackOptions();
        using var hashing = new HashingStream(LayerCompression.OpenDecompressed(layer));
        using var root = SafeFd.TryOpen(targetDir, Libc.O_PATH | Libc.O_DIRECTORY, out int err)
            ?? throw new ErrnoException($"unpack: open {targetDir}", err);
        using var writer = new LayerWriter(root, options);
        var tar = new TarStream(hashing);
        var h = new TarHeader();
        int entries = 0;
        try
        {
            while (tar.Next(h))
            {
                writer.Write(h, tar);
                entries++;
            }
            writer.FinishDirectories();
            var diffId = hashing.Finish();
            return new UnpackResult(diffId, hashing.BytesRead, entries);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or ZstdSharp.ZstdException)
        {
            throw new ImageException($"layer: corrupt or truncated data after {entries} entries: {e.Message}", e);
        }
    }
}

/// <summary>Creates tar members below one directory fd.</summary>
internal sealed unsafe class LayerWriter(SafeFd root, UnpackOptions options) : IDisposable
{
    private const int O_WRITE_NEW = Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;
    private const ulong Beneath = Files.RESOLVE_BENEATH | Files.RESOLVE_NO_SYMLINKS | Files.RESOLVE_NO_MAGICLINKS;
    private static readonly byte[] WhiteoutPrefix = ".wh."u8.ToArray();
    private static readonly byte[] OpaqueMarker = ".wh..wh..opq"u8.ToArray();
    private static readonly byte[] MetaPrefix = ".wh..wh."u8.ToArray();

    private readonly byte[] _buffer = new byte[1 << 20];
    private readonly List<(byte[] Path, uint Mode, long Sec, long Nsec)> _dirs = [];
    // The last parent directory opened: consecutive members usually share it.
    private byte[]? _cachedParent;
    private SafeFd? _cachedParentFd;
    private string _entry = "";

    public void Write(TarHeader h, TarStream tar)
    {
        _entry = h.DisplayName;
        var parts = Clean(h.Name);
        if (parts.Count == 0) return; // the layer root itself: its metadata belongs to the snapshot, not the layer
        byte[] name = parts[^1];
        byte[] parentPath = Join(parts, parts.Count - 1);
        var parent = Parent(parentPath);

        if (name.AsSpan().StartsWith(WhiteoutPrefix))
        {
            if (name.AsSpan().SequenceEqual(OpaqueMarker)) MarkOpaque(parent);
            else if (!name.AsSpan().StartsWith(MetaPrefix)) Whiteout(parent, Z(name.AsSpan(WhiteoutPrefix.Length)));
            return;
        }

        byte[] nz = Z(name);
        bool existingDir = RemoveExisting(parent, nz, h.Kind == TarEntryKind.Directory);
        fixed (byte* n = nz)
        {
            switch (h.Kind)
            {
                case TarEntryKind.Directory:
                    if (!existingDir) Check(Files.MkdirAt(parent.Fd, n, 0x1c0), "mkdir");
                    Own(parent, n, h);
                    SetXattrs(parent, nz, h, directory: true);
                    // Mode and mtime last: writing children would change the mtime, and a 0555 mode would block them.
                    _dirs.Add((Join(parts, parts.Count), h.Mode, h.MtimeSec, h.MtimeNsec));
                    return;
                case TarEntryKind.File:
                    WriteFile(parent, n, h, tar);
                    return;
                case TarEntryKind.Symlink:
                    fixed (byte* t = Z(h.LinkName))
                        Check(Files.SymlinkAt(t, parent.Fd, n), "symlink");
                    Own(parent, n, h);
                    Times(parent, n, h);
                    return;
                case TarEntryKind.HardLink:
                    HardLink(parent, n, h);
                    return;
                case TarEntryKind.CharDevice or TarEntryKind.BlockDevice or TarEntryKind.Fifo:
                    if (options.Rootless && h.Kind != TarEntryKind.Fifo)
                        throw Fail("device nodes cannot be created in a rootless unpack");
                    uint type = h.Kind switch { TarEntryKind.CharDevice => Files.S_IFCHR, TarEntryKind.BlockDevice => Files.S_IFBLK, _ => Files.S_IFIFO };
                    Check(Files.MknodAt(parent.Fd, n, type | 0x180, Files.MakeDev(h.DevMajor, h.DevMinor)), "mknod");
                    Own(parent, n, h);
                    Check(Files.FchmodAt(parent.Fd, n, h.Mode, 0), "chmod"); // mknod's mode went through the umask
                    Times(parent, n, h);
                    return;
            }
        }
    }

    /// <summary>Sets directory modes and mtimes, deepest first, once nothing more is written into them.</summary>
    public void FinishDirectories()
    {
        var ts = stackalloc Files.Timespec[2];
        for (int i = _dirs.Count - 1; i >= 0; i--)
        {
            var (path, mode, sec, nsec) = _dirs[i];
            int fd = Files.OpenAt2(root.Fd, Z(path), Libc.O_PATH | Libc.O_DIRECTORY, Beneath);
            if (fd < 0) continue; // replaced by a later member
            using var dir = new SafeFd(fd);
            byte[] proc = Z(Encoding.ASCII.GetBytes($"/proc/self/fd/{fd}"));
            fixed (byte* p = proc)
            {
                _entry = Encoding.UTF8.GetString(path);
                Check(Files.FchmodAt(Libc.AT_FDCWD, p, mode, 0), "chmod");
                ts[0] = ts[1] = new Files.Timespec { Sec = sec, Nsec = nsec };
                Check(Files.UtimensAt(Libc.AT_FDCWD, p, ts, 0), "utimensat");
            }
        }
    }

    private void WriteFile(SafeFd parent, byte* name, TarHeader h, TarStream tar)
    {
        int fd = Files.OpenAt(parent.Fd, name, O_WRITE_NEW, 0x180);
        if (fd < 0) throw Fail("create", Errno.Last);
        using var file = new SafeFd(fd);
        fixed (byte* buf = _buffer)
        {
            int n;
            while ((n = tar.Read(_buffer)) > 0)
            {
                for (int off = 0; off < n;)
                {
                    nint w = Libc.Write(fd, buf + off, n - off);
                    if (w < 0)
                    {
                        if (Errno.Last == Libc.EINTR) continue;
                        throw Fail("write", Errno.Last);
                    }
                    off += (int)w;
                }
            }
        }
        if (Files.Fchown(fd, h.Uid, h.Gid) < 0 && !options.Rootless) throw Fail("chown", Errno.Last);
        Check(Files.Fchmod(fd, h.Mode), "chmod"); // after chown, which clears setuid/setgid
        if (h.Xattrs is not null)
            foreach (var (key, value) in h.Xattrs) SetXattr(fd, key, value);
        var ts = stackalloc Files.Timespec[2];
        ts[0] = ts[1] = new Files.Timespec { Sec = h.MtimeSec, Nsec = h.MtimeNsec };
        Check(Files.Futimens(fd, ts), "futimens");
    }

    private void HardLink(SafeFd parent, byte* name, TarHeader h)
    {
        var target = Clean(h.LinkName, "hardlink target");
        if (target.Count == 0) throw Fail("hardlink to the layer root");
        int fd = Files.OpenAt2(root.Fd, Z(Join(target, target.Count)), Libc.O_PATH | Libc.O_NOFOLLOW, Beneath);
        if (fd < 0)
            throw -fd switch
            {
                Files.ELOOP or Files.EXDEV => Fail($"hardlink target \"{Encoding.UTF8.GetString(h.LinkName)}\" is outside the layer or behind a symlink"),
                Libc.ENOENT => Fail($"hardlink target \"{Encoding.UTF8.GetString(h.LinkName)}\" does not exist (it must come earlier in the layer)"),
                _ => Fail("open hardlink target", -fd),
            };
        using var t = new SafeFd(fd);
        Files.Stat st;
        fixed (byte* empty = ""u8)
            Check(Files.FstatAt(fd, empty, &st, Files.AT_EMPTY_PATH | Files.AT_SYMLINK_NOFOLLOW), "stat hardlink target");
        if ((st.Mode & Files.S_IFMT) == Files.S_IFDIR) throw Fail("hardlink to a directory");
        fixed (byte* p = Z(Encoding.ASCII.GetBytes($"/proc/self/fd/{fd}")))
            Check(Files.LinkAt(Libc.AT_FDCWD, p, parent.Fd, name, Files.AT_SYMLINK_FOLLOW), "link");
    }

    private void Whiteout(SafeFd parent, byte[] nz)
    {
        RemoveExisting(parent, nz, newIsDir: false);
        fixed (byte* n = nz)
            if (Files.MknodAt(parent.Fd, n, Files.S_IFCHR, 0) < 0)
                throw Fail(options.Rootless ? "whiteout (a 0/0 device) cannot be created without root" : "whiteout", Errno.Last);
    }

    private void MarkOpaque(SafeFd parent)
    {
        // The parent is an O_PATH fd, which xattr calls refuse: reopen the same directory for reading.
        fixed (byte* p = Z(Encoding.ASCII.GetBytes($"/proc/self/fd/{parent.Fd}")))
        {
            int fd = Files.OpenAt(Libc.AT_FDCWD, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
            if (fd < 0) throw Fail("open for opaque marker", Errno.Last);
            using var dir = new SafeFd(fd);
            SetXattr(fd, options.Rootless ? "user.overlay.opaque" : "trusted.overlay.opaque", "y"u8.ToArray());
        }
    }

    private void Own(SafeFd parent, byte* name, TarHeader h)
    {
        if (Files.FchownAt(parent.Fd, name, h.Uid, h.Gid, Files.AT_SYMLINK_NOFOLLOW) < 0 && !options.Rootless)
            throw Fail("chown", Errno.Last);
    }

    private void Times(SafeFd parent, byte* name, TarHeader h)
    {
        var ts = stackalloc Files.Timespec[2];
        ts[0] = ts[1] = new Files.Timespec { Sec = h.MtimeSec, Nsec = h.MtimeNsec };
        Check(Files.UtimensAt(parent.Fd, name, ts, Files.AT_SYMLINK_NOFOLLOW), "utimensat");
    }

    private void SetXattrs(SafeFd parent, byte[] nz, TarHeader h, bool directory)
    {
        if (h.Xattrs is null) return;
        fixed (byte* n = nz)
        {
            int fd = Files.OpenAt(parent.Fd, n, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC | (directory ? Libc.O_DIRECTORY : 0), 0);
            if (fd < 0) throw Fail("open for xattrs", Errno.Last);
            using var f = new SafeFd(fd);
            foreach (var (key, value) in h.Xattrs) SetXattr(fd, key, value);
        }
    }

    private void SetXattr(int fd, string key, byte[] value)
    {
        fixed (byte* k = Z(Encoding.UTF8.GetBytes(key)))
        fixed (byte* v = value)
        {
            if (Files.Fsetxattr(fd, k, v, (nuint)value.Length, 0) == 0) return;
            int e = Errno.Last;
            // Without privilege, trusted.* and security.* cannot be set: what a rootless unpack can't do, it skips.
            if (options.Rootless && e is Libc.EPERM or Files.ENOTSUP) return;
            throw Fail($"setxattr {key}", e);
        }
    }

    /// <summary>Removes what is at <paramref name="nz"/> unless both it and the new member are directories
    /// (then the directory stays and only its metadata changes). Returns true when a directory stays.</summary>
    private bool RemoveExisting(SafeFd parent, byte[] nz, bool newIsDir)
    {
        Files.Stat st;
        fixed (byte* n = nz)
        {
            if (Files.FstatAt(parent.Fd, n, &st, Files.AT_SYMLINK_NOFOLLOW) < 0)
            {
                int e = Errno.Last;
                return e == Libc.ENOENT ? false : throw Fail("stat", e);
            }
            bool isDir = (st.Mode & Files.S_IFMT) == Files.S_IFDIR;
            if (isDir && newIsDir) return true;
            if (!isDir)
            {
                Check(Files.UnlinkAt(parent.Fd, n, 0), "unlink");
                return false;
            }
        }
        // A directory replaced by something else: remove its tree through the pinned parent.
        InvalidateParentCache();
        string path = $"/proc/self/fd/{parent.Fd}/{Encoding.UTF8.GetString(nz.AsSpan(0, nz.Length - 1))}";
        Snapshots.Trees.Remove(path);
        return false;
    }

    /// <summary>Opens (creating missing directories) the parent of a member, never through a symlink.</summary>
    private SafeFd Parent(byte[] path)
    {
        if (_cachedParent is not null && _cachedParent.AsSpan().SequenceEqual(path)) return _cachedParentFd!;
        InvalidateParentCache();
        SafeFd fd;
        if (path.Length == 0) fd = new SafeFd(root.Fd, ownsHandle: false);
        else
        {
            int r = Files.OpenAt2(root.Fd, Z(path), Libc.O_PATH | Libc.O_DIRECTORY, Beneath);
            fd = r >= 0 ? new SafeFd(r) : r == -Libc.ENOENT ? CreateParents(path) : throw ParentError(path, -r);
        }
        _cachedParent = path;
        _cachedParentFd = fd;
        return fd;
    }

    /// <summary>tar may list a file before its directory (or not at all): make the missing ones, 0755 as tar does.</summary>
    private SafeFd CreateParents(byte[] path)
    {
        var parts = path.AsSpan();
        int start = 0;
        SafeFd cur = new(root.Fd, ownsHandle: false);
        while (start <= parts.Length)
        {
            int slash = parts[start..].IndexOf((byte)'/');
            int end = slash < 0 ? parts.Length : start + slash;
            byte[] comp = Z(parts[start..end]);
            int r = Files.OpenAt2(cur.Fd, comp, Libc.O_PATH | Libc.O_DIRECTORY, Beneath);
            if (r == -Libc.ENOENT)
            {
                fixed (byte* c = comp)
                    if (Files.MkdirAt(cur.Fd, c, 0x1ed) < 0 && Errno.Last != Libc.EEXIST) throw Fail("mkdir parent", Errno.Last);
                r = Files.OpenAt2(cur.Fd, comp, Libc.O_PATH | Libc.O_DIRECTORY, Beneath);
            }
            if (r < 0) throw ParentError(path, -r);
            cur.Dispose();
            cur = new SafeFd(r);
            if (slash < 0) break;
            start = end + 1;
        }
        return cur;
    }

    private ImageException ParentError(byte[] path, int errno) => errno switch
    {
        Files.ELOOP => Fail($"parent \"{Encoding.UTF8.GetString(path)}\" is a symlink: writing through it could escape the layer"),
        Files.EXDEV => Fail("path escapes the layer root"),
        Libc.ENOTDIR => Fail($"parent \"{Encoding.UTF8.GetString(path)}\" is not a directory"),
        _ => Fail($"open parent \"{Encoding.UTF8.GetString(path)}\"", errno),
    };

    private void InvalidateParentCache()
    {
        _cachedParentFd?.Dispose();
        _cachedParentFd = null;
        _cachedParent = null;
    }

    /// <summary>Splits a member name into components: "./" and "." dropped, ".." applied, a ".." above the root
    /// refused. An absolute name is rooted at the layer root, as docker and containerd read it (umoci writes
    /// the root directory as "/").</summary>
    private List<byte[]> Clean(byte[] name, string what = "path")
    {
        var parts = new List<byte[]>();
        var s = name.AsSpan();
        foreach (var range in s.Split((byte)'/'))
        {
            var c = s[range];
            if (c.Length == 0 || c.SequenceEqual("."u8)) continue;
            if (c.SequenceEqual(".."u8))
            {
                if (parts.Count == 0) throw Fail($"{what} \"{Encoding.UTF8.GetString(name)}\" escapes the layer root");
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            if (c.IndexOf((byte)0) >= 0) throw Fail($"{what} contains a NUL byte");
            parts.Add(c.ToArray());
        }
        return parts;
    }

    private static byte[] Join(List<byte[]> parts, int count)
    {
        int len = 0;
        for (int i = 0; i < count; i++) len += parts[i].Length + (i > 0 ? 1 : 0);
        var b = new byte[len];
        int at = 0;
        for (int i = 0; i < count; i++)
        {
            if (i > 0) b[at++] = (byte)'/';
            parts[i].CopyTo(b, at);
            at += parts[i].Length;
        }
        return b;
    }

    private static byte[] Z(ReadOnlySpan<byte> s)
    {
        var b = new byte[s.Length + 1];
        s.CopyTo(b);
        return b;
    }

    private void Check(int r, string op)
    {
        if (r < 0) throw Fail(op, Errno.Last);
    }

    private ImageException Fail(string why) => new($"layer entry \"{_entry}\": {why}");

    private ImageException Fail(string op, int errno) => new($"layer entry \"{_entry}\": {op}: {Errno.Describe(errno)}");

    public void Dispose() => InvalidateParentCache();
}
