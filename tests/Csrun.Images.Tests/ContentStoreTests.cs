using System.Text;
using Csrun.Images.Content;

namespace Csrun.Images.Tests;

public sealed class ContentStoreTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "csrun-cs-" + Guid.NewGuid().ToString("N")[..12]);
    private readonly ContentStore _store;

    public ContentStoreTests() => _store = new ContentStore(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void PutStoresVerifiedBlobUnderItsDigest()
    {
        var data = Encoding.UTF8.GetBytes("hello blob");
        var d = Digest.Sha256(data);
        _store.Put(d, data, "test");
        Assert.True(_store.Exists(d));
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(_root, "blobs", "sha256", d.Hex)));
        Assert.Contains(d, _store.List());
    }

    [Fact]
    public void MismatchedContentIsRejectedAndNothingStored()
    {
        var d = Digest.Sha256("expected"u8);
        var e = Assert.Throws<DigestMismatchException>(() => _store.Put(d, "tampered"u8, "manifest"));
        Assert.Contains("manifest: digest mismatch", e.Message);
        Assert.False(_store.Exists(d));
        Assert.Empty(Directory.GetFiles(Path.Combine(_root, "ingest")));
    }

    [Fact]
    public void InterruptedWriteResumesFromItsOffset()
    {
        var data = new byte[100_000];
        Random.Shared.NextBytes(data);
        var d = Digest.Sha256(data);
        using (var w = _store.OpenWriter(d, data.Length, "layer")!)
            w.Write(data.AsSpan(0, 40_000)); // disposed without commit: the partial stays
        Assert.False(_store.Exists(d));
        using (var w = _store.OpenWriter(d, data.Length, "layer")!)
        {
            Assert.Equal(40_000, w.Offset);
            w.Write(data.AsSpan(40_000));
            w.Commit();
        }
        Assert.Equal(data, _store.ReadAll(d));
        Assert.Null(_store.OpenWriter(d, data.Length, "layer"));
    }

    [Fact]
    public void OversizedWriteIsRefused()
    {
        var d = Digest.Sha256("abc"u8);
        using var w = _store.OpenWriter(d, 3, "config")!;
        Assert.Throws<ImageException>(() => w.Write("abcd"u8));
    }

    [Theory]
    [InlineData("sha256:abc")]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e")]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    public void BadDigestsAreRejected(string s) => Assert.False(Digest.TryParse(s, out _));
}
