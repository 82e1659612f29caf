using System.Text;
using Csrun.Images.Content;
using Csrun.Linux;

namespace Csrun.Images.Snapshots;

/// <summary>
/// Overlayfs snapshots. Each layer is unpacked once into layers/&lt;chainID&gt;/fs (the chain ID names the whole
/// stack below it, so identical stacks share directories); a container's rootfs is an overlay of those with
/// its own upper and work dirs under active/&lt;key&gt;/. A layer is unpacked into tmp/ and renamed into place,
/// so a half-unpacked layer is never visible.
/// </summary>
public sealed class Snapshotter
{
    public string Root { get; }
    private readonly string _layers, _active, _tmp;

    public Snapshotter(string root)
    {
        Root = root;
        _layers = Path.Combine(root, "layers");
        _active = Path.Combine(root, "active");
        _tmp = Path.Combine(root, "tmp");
        Directory.CreateDirectory(_layers);
        Directory.CreateDirectory(_active);
        Directory.CreateDirectory(_tmp);
    }

    /// <summary>ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)) (image-spec config.md).</summary>
    public static IReadOnlyList<Digest> ChainIds(IReadOnlyList<Digest> diffIds)
    {
        var chain = new List<Digest>(diffIds.Count);
        foreach (var d in diffIds)
            chain.Add(chain.Count == 0 ? d : Digest.Sha256(Encoding.ASCII.GetBytes($"{chain[^1]} {d}")));
        return chain;
    }

    public string LayerPath(Digest chainId) => Path.Combine(_layers, chainId.Hex, "fs");

    public bool HasLayer(Digest chainId) => Directory.Exists(LayerPath(chainId));

    public IEnumerable<Digest> Layers()
    {
        foreach (var d in Directory.EnumerateDirectories(_layers))
            if (Digest.TryParse("sha256:" + Path.GetFileName(d), out var id)) yield return id;
    }

    /// <summary>
    /// Makes layer <paramref name="chainId"/> present: if another pull is unpacking it, waits; otherwise runs
    /// <paramref name="unpackInto"/> on an empty temp dir and renames the result into place.
    /// </summary>
    public void EnsureLayer(Digest chainId, Action<string> unpackInto)
    {
        if (HasLayer(chainId)) return;
        using var _ = FileLock.Acquire(Path.Combine(_layers, chainId.Hex + ".lock"), Libc.LOCK_EX);
        if (HasLayer(chainId)) return;
        string tmp = Path.Combine(_tmp, $"{chainId.Hex[..12]}-{Guid.NewGuid():N}");
        string fs = Path.Combine(tmp, "fs");
        Directory.CreateDirectory(fs);
        try
        {
            unpackInto(fs);
            Directory.Move(tmp, Path.Combine(_layers, chainId.Hex));
        }
        catch
        {
            Trees.Remove(tmp);
            throw;
        }
        finally
        {
            File.Delete(Path.Combine(_layers, chainId.Hex + ".lock"));
        }
    }

    public void DeleteLayer(Digest chainId) => Trees.Remove(Path.Combine(_layers, chainId.Hex));

    /// <summary>Creates the writable snapshot <paramref name="key"/> over the layer stack (bottom layer first).</summary>
    public void Prepare(string key, IReadOnlyList<Digest> chainIds)
    {
        ValidateKey(key);
        foreach (var c in chainIds)
            if (!HasLayer(c)) throw new ImageException($"snapshot {key}: layer {c} is not unpacked");
        string dir = Path.Combine(_active, key);
        if (Directory.Exists(dir)) throw new ImageException($"snapshot {key}: already exists");
        Directory.CreateDirectory(Path.Combine(dir, "upper"));
        Directory.CreateDirectory(Path.Combine(dir, "work"));
        // The parents file ties the snapshot to its layers, so garbage collection keeps them.
        File.WriteAllLines(Path.Combine(dir, "parents"), chainIds.Select(c => c.ToString()));
    }

    public bool Exists(string key) => Directory.Exists(Path.Combine(_active, key));

    public IEnumerable<string> Active() => Directory.EnumerateDirectories(_active).Select(Path.GetFileName)!;

    public IReadOnlyList<Digest> ParentsOf(string key) =>
        File.ReadAllLines(Path.Combine(_active, key, "parents")).Select(l => Digest.Parse(l, "snapshot parents")).ToList();

    public string UpperDir(string key) => Path.Combine(_active, key, "upper");

    /// <summary>Mounts snapshot <paramref name="key"/> as an overlay at <paramref name="target"/>.</summary>
    public void Mount(string key, string target)
    {
        var parents = ParentsOf(key);
        string upper = UpperDir(key), work = Path.Combine(_active, key, "work");
        if (parents.Count == 0)
        {
            // No layers (a scratch image): the upper dir alone is the rootfs.
            Errno.Check(MountApi.Mount(upper, target, null, MountApi.MS_BIND, null), $"bind {upper} on {target}");
            return;
        }
        try
        {
            using var fs = MountApi.FsOpen("overlay");
            for (int i = parents.Count - 1; i >= 0; i--)
                MountApi.FsConfigString(fs, "lowerdir+", LayerPath(parents[i]));
            MountApi.FsConfigString(fs, "upperdir", upper);
            MountApi.FsConfigString(fs, "workdir", work);
            using var mnt = MountApi.FsCreateAndMount(fs, $"overlay for {key}");
            MountApi.MoveMount(mnt, target);
        }
        catch (ErrnoException e) when (e.Errno is Libc.EINVAL or Libc.ENOSYS && e.Operation.StartsWith("fs", StringComparison.Ordinal))
        {
            // Kernels before 6.8 lack "lowerdir+": one option string, which mount(2) bounds to a page.
            string lower = string.Join(':', Enumerable.Range(0, parents.Count).Reverse().Select(i => LayerPath(parents[i])));
            string data = $"lowerdir={lower},upperdir={upper},workdir={work}";
            if (data.Length >= 4096)
                throw new ImageException($"snapshot {key}: {parents.Count} layers exceed this kernel's overlay option limit");
            Errno.Check(MountApi.Mount("overlay", target, "overlay", 0, data), $"mount overlay on {target}");
        }
    }

    public void Remove(string key)
    {
        ValidateKey(key);
        Trees.Remove(Path.Combine(_active, key));
    }

    /// <summary>Bytes and inodes in the writable layer (for stats).</summary>
    public (long Bytes, long Inodes) Usage(string key)
    {
        long bytes = 0, inodes = 0;
        var opts = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        foreach (var f in new DirectoryInfo(UpperDir(key)).EnumerateFileSystemInfos("*", opts))
        {
            inodes++;
            if (f is FileInfo fi && (fi.Attributes & FileAttributes.ReparsePoint) == 0) bytes += fi.Length;
        }
        return (bytes, inodes);
    }

    /// <summary>Removes unpack directories a crashed pull left behind.</summary>
    public int PruneTemp()
    {
        int n = 0;
        foreach (var d in Directory.EnumerateDirectories(_tmp)) { Trees.Remove(d); n++; }
        return n;
    }

    private static void ValidateKey(string key)
    {
        if (key.Length == 0 || key.Length > 128 || key.Contains('/') || key is "." or "..")
            throw new ImageException($"snapshot key \"{key}\": must be a single path component of 1-128 characters");
    }
}
