using System.Text;
using Csrun.Images.Content;
using Csrun.Images.Snapshots;
using Csrun.Linux;

namespace Csrun.Images.Tests;

/// <summary>Overlay snapshots on the real kernel (root).</summary>
public sealed class SnapshotterTests : IDisposable
{
    private readonly string _root = Path.Combine("/var/tmp", "csrun-snap-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly Snapshotter _snap;
    private readonly List<string> _mounts = [];

    public SnapshotterTests() => _snap = new Snapshotter(_root);

    public void Dispose()
    {
        foreach (var m in _mounts) Libc.Umount2(m, MountApi.MNT_DETACH);
        Directory.Delete(_root, recursive: true);
    }

    private Digest Layer(int i, Action<string> fill)
    {
        var id = Digest.Sha256(Encoding.ASCII.GetBytes($"layer {i} {_root}"));
        _snap.EnsureLayer(id, fill);
        return id;
    }

    private string MountPoint()
    {
        string m = Path.Combine(_root, "mnt-" + _mounts.Count);
        Directory.CreateDirectory(m);
        _mounts.Add(m);
        return m;
    }

    [Fact]
    public void UpperLayersWinAndWritesGoToTheContainersUpperDir()
    {
        var bottom = Layer(0, d => { File.WriteAllText(Path.Combine(d, "f"), "bottom"); File.WriteAllText(Path.Combine(d, "only-bottom"), "1"); });
        var top = Layer(1, d => File.WriteAllText(Path.Combine(d, "f"), "top"));
        _snap.Prepare("c1", [bottom, top]);
        string m = MountPoint();
        _snap.Mount("c1", m);
        Assert.Equal("top", File.ReadAllText(Path.Combine(m, "f")));
        Assert.Equal("1", File.ReadAllText(Path.Combine(m, "only-bottom")));
        File.WriteAllText(Path.Combine(m, "new"), "written");
        Assert.Equal("written", File.ReadAllText(Path.Combine(_snap.UpperDir("c1"), "new")));
        Assert.False(File.Exists(Path.Combine(_snap.LayerPath(top), "new")));
        Assert.Equal(1, _snap.Usage("c1").Inodes);
    }

    [Fact]
    public void StacksBeyondMountsOnePageOptionLimitMount()
    {
        // 150 layers × ~100-byte paths: far more than mount(2)'s 4096-byte option string.
        var layers = Enumerable.Range(0, 150).Select(i => Layer(i, d => File.WriteAllText(Path.Combine(d, $"l{i}"), $"{i}"))).ToList();
        Assert.True(layers.Sum(l => _snap.LayerPath(l).Length + 1) > 4096);
        _snap.Prepare("deep", layers);
        string m = MountPoint();
        _snap.Mount("deep", m);
        Assert.Equal("0", File.ReadAllText(Path.Combine(m, "l0")));
        Assert.Equal("149", File.ReadAllText(Path.Combine(m, "l149")));
    }

    [Fact]
    public void FailedUnpackLeavesNoLayer()
    {
        var id = Digest.Sha256("broken"u8);
        Assert.Throws<InvalidOperationException>(() => _snap.EnsureLayer(id, d =>
        {
            File.WriteAllText(Path.Combine(d, "half"), "x");
            throw new InvalidOperationException("unpack failed");
        }));
        Assert.False(_snap.HasLayer(id));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_root, "tmp")));
    }

    [Fact]
    public void PrepareRefusesMissingLayersAndBadKeys()
    {
        Assert.Throws<ImageException>(() => _snap.Prepare("x", [Digest.Sha256("nope"u8)]));
        Assert.Throws<ImageException>(() => _snap.Prepare("../escape", []));
        Assert.False(_snap.Exists("x"));
    }
}
