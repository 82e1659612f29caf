using Csrun.Linux;

namespace Csrun.Images.Content;

/// <summary>
/// Content-addressed blobs under &lt;root&gt;/blobs/&lt;alg&gt;/&lt;hex&gt; (the OCI image layout's shape).
/// Blobs arrive through <see cref="ContentWriter"/>: bytes go to ingest/&lt;alg&gt;-&lt;hex&gt;, are hashed as
/// they are written, and become visible by one rename only after size and digest match.
/// </summary>
public sealed class ContentStore
{
    public string Root { get; }
    private readonly string _blobs, _ingest;

    public ContentStore(string root)
    {
        Root = root;
        _blobs = Path.Combine(root, "blobs");
        _ingest = Path.Combine(root, "ingest");
        Directory.CreateDirectory(_blobs);
        Directory.CreateDirectory(_ingest);
    }

    public string BlobPath(Digest d) => Path.Combine(_blobs, d.Algorithm, d.Hex);

    public bool Exists(Digest d) => File.Exists(BlobPath(d));

    public long SizeOf(Digest d) => new FileInfo(BlobPath(d)).Length;

    public FileStream OpenRead(Digest d)
    {
        try { return new FileStream(BlobPath(d), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new ImageException($"blob {d}: not in the content store {Root}"); }
    }

    public byte[] ReadAll(Digest d)
    {
        try { return File.ReadAllBytes(BlobPath(d)); }
        catch (FileNotFoundException) { throw new ImageException($"blob {d}: not in the content store {Root}"); }
    }

    /// <summary>Stores a small blob held in memory (manifests, configs) after verifying it.</summary>
    public void Put(Digest d, ReadOnlySpan<byte> data, string what)
    {
        d.Verify(data, what);
        if (Exists(d)) return;
        using var w = OpenWriter(d, data.Length, what);
        if (w is null) return;
        w.Restart();
        w.Write(data);
        w.Commit();
    }

    /// <summary>
    /// Opens the ingest for <paramref name="d"/>, waiting while another process writes it. Returns null when
    /// the blob is (or became, while waiting) present. A partial ingest left by an interrupted download is
    /// kept: <see cref="ContentWriter.Offset"/> says where to resume.
    /// </summary>
    public ContentWriter? OpenWriter(Digest d, long expectedSize, string what)
    {
        if (Exists(d)) return null;
        string partial = Path.Combine(_ingest, $"{d.Algorithm}-{d.Hex}");
        var held = FileLock.Acquire(partial + ".lock", Libc.LOCK_EX);
        try
        {
            if (Exists(d)) { held.Dispose(); return null; }
            return new ContentWriter(this, d, expectedSize, partial, BlobPath(d), held, what);
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    public void Delete(Digest d) => File.Delete(BlobPath(d));

    public IEnumerable<Digest> List()
    {
        if (!Directory.Exists(_blobs)) yield break;
        foreach (var algDir in Directory.EnumerateDirectories(_blobs))
            foreach (var f in Directory.EnumerateFiles(algDir))
                if (Digest.TryParse($"{Path.GetFileName(algDir)}:{Path.GetFileName(f)}", out var d)) yield return d;
    }

    /// <summary>Partial downloads no writer holds (for garbage collection).</summary>
    public int PruneIngests()
    {
        int n = 0;
        foreach (var lockFile in Directory.EnumerateFiles(_ingest, "*.lock"))
        {
            using var fd = SafeFd.TryOpen(lockFile, Libc.O_RDWR, out _);
            if (fd is null || Libc.Flock(fd.Fd, Libc.LOCK_EX | Libc.LOCK_NB) < 0) continue;
            File.Delete(lockFile[..^5]);
            File.Delete(lockFile);
            n++;
        }
        return n;
    }
}

/// <summary>A blob being written: hashes what is written, verifies on <see cref="Commit"/>, renames into place.</summary>
public sealed class ContentWriter : IDisposable
{
    private readonly ContentStore _store;
    private readonly string _partial, _final, _what;
    private readonly FileLock _lock;
    private readonly System.Security.Cryptography.IncrementalHash _hash;
    private FileStream _file;
    private bool _done;

    public Digest Digest { get; }
    public long ExpectedSize { get; }
    /// <summary>Bytes already written (by this writer or an earlier, interrupted one).</summary>
    public long Offset { get; private set; }

    internal ContentWriter(ContentStore store, Digest d, long size, string partial, string final, FileLock lockFd, string what)
    {
        _store = store; Digest = d; ExpectedSize = size; _partial = partial; _final = final; _lock = lockFd; _what = what;
        _hash = d.NewHasher();
        _file = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        if (_file.Length > size && size >= 0) _file.SetLength(0);
        // Re-hash what an interrupted download left so the digest covers every byte.
        var buf = new byte[1 << 16];
        int n;
        while ((n = _file.Read(buf)) > 0) _hash.AppendData(buf, 0, n);
        Offset = _file.Position;
    }

    /// <summary>Forgets a partial ingest (the source cannot resume it).</summary>
    public void Restart()
    {
        if (Offset == 0) return;
        _file.SetLength(0);
        _file.Position = 0;
        _hash.GetHashAndReset();
        Offset = 0;
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        if (ExpectedSize >= 0 && Offset + data.Length > ExpectedSize)
            throw new ImageException($"{_what}: {Digest}: more data than the descriptor's size {ExpectedSize}");
        _file.Write(data);
        _hash.AppendData(data);
        Offset += data.Length;
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        if (ExpectedSize >= 0 && Offset + data.Length > ExpectedSize)
            throw new ImageException($"{_what}: {Digest}: more data than the descriptor's size {ExpectedSize}");
        await _file.WriteAsync(data, ct).ConfigureAwait(false);
        _hash.AppendData(data.Span);
        Offset += data.Length;
    }

    /// <summary>Verifies size and digest; on success the blob appears atomically, on failure the ingest is dropped.</summary>
    public void Commit()
    {
        var actual = Digest.FromHash(Digest.Algorithm, _hash.GetHashAndReset());
        if (actual != Digest || (ExpectedSize >= 0 && Offset != ExpectedSize))
        {
            Abort();
            if (actual != Digest) throw new DigestMismatchException(_what, Digest, actual);
            throw new ImageException($"{_what}: {Digest}: size {Offset}, descriptor says {ExpectedSize}");
        }
        _file.Flush(flushToDisk: true);
        _file.Dispose();
        Directory.CreateDirectory(Path.GetDirectoryName(_final)!);
        File.Move(_partial, _final, overwrite: true);
        _done = true;
        Dispose();
    }

    public void Abort()
    {
        _file.Dispose();
        File.Delete(_partial);
        _done = true;
        Dispose();
    }

    public void Dispose()
    {
        _file.Dispose();
        _hash.Dispose();
        if (_done) try { File.Delete(_partial + ".lock"); } catch (IOException) { }
        _lock.Dispose();
        GC.KeepAlive(_store);
    }
}
