using System.Text.Json;
using Csrun.Images.Content;
using Csrun.Images.Pull;
using Csrun.Images.Registry;
using Csrun.Images.Store;
using Csrun.Images.Tests.Fixtures;

namespace Csrun.Images.Tests;

/// <summary>Pulls from Debian's docker-registry started by each test on 127.0.0.1 (plain http).</summary>
public sealed class RegistryTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine("/var/tmp", "csrun-pull-" + Guid.NewGuid().ToString("N")[..10]);
    private ImageStore _store = null!;
    private readonly List<IAsyncDisposable> _async = [];
    private readonly List<IDisposable> _sync = [];

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _store = new ImageStore(Path.Combine(_dir, "store"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var d in _sync) d.Dispose();
        foreach (var d in _async) await d.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<RegistryServer> Registry((string, string)? basic = null, TokenServer? tokens = null)
    {
        var r = await RegistryServer.StartAsync(basic, tokens);
        _async.Add(r);
        return r;
    }

    private T Own<T>(T d) where T : IDisposable { _sync.Add(d); return d; }

    private async Task<ResolvedImage> Pull(string reference, AuthConfig? auth = null, RegistryConfig? config = null, Platform? platform = null)
    {
        using var client = new RegistryClient(config ?? new RegistryConfig(), auth ?? AuthConfig.Empty, new RegistryClientOptions { RetryDelay = TimeSpan.FromMilliseconds(10) });
        return await new ImagePuller(_store, client).PullAsync(ImageReference.Parse(reference), new PullOptions { Platform = platform ?? PlatformSelector.Default });
    }

    private static async Task Push(RegistryServer r, string image, string repo, string tag = "latest", (string, string)? creds = null)
    {
        using var p = new RegistryPusher(r.BaseUri, creds);
        await p.PushLayoutAsync(TestImages.Layout(image), repo, tag);
    }

    [Fact]
    public async Task MultiLayerOciImageWithMixedCompressionPullsAndUnpacks()
    {
        var reg = await Registry();
        await Push(reg, "layered", "test/layered", "v1");
        var img = await Pull($"{reg.Host}/test/layered:v1");
        Assert.Equal($"{reg.Host}/test/layered:v1", img.Name);
        Assert.Equal(MediaTypes.OciManifest, img.Target.MediaType);
        Assert.Equal([MediaTypes.OciLayerGzip, MediaTypes.OciLayerZstd, MediaTypes.OciLayer], img.Manifest.Layers.Select(l => l.MediaType));
        Assert.All(img.ChainIds, c => Assert.True(_store.Snapshots.HasLayer(c)));
        Assert.True(File.Exists(Path.Combine(_store.Snapshots.LayerPath(img.ChainIds[2]), "data/.wh.a")) == false);
        Assert.NotNull(_store.Names.Find(img.Name));
        Assert.Equal("app", img.Config.Config!.User);

        // By digest: the same image, the manifest verified against the reference.
        var byDigest = await Pull($"{reg.Host}/test/layered@{img.Target.Digest}");
        Assert.Equal(img.Id, byDigest.Id);
    }

    [Fact]
    public async Task DockerSchema2ManifestAndMultiArchIndex()
    {
        var reg = await Registry();
        await Push(reg, "busybox-docker", "lib/bb");
        var bb = await Pull($"{reg.Host}/lib/bb");
        Assert.Equal(MediaTypes.DockerManifest, bb.Target.MediaType);
        Assert.Equal(MediaTypes.DockerLayerGzip, bb.Manifest.Layers[0].MediaType);

        await Push(reg, "multiarch", "lib/multi");
        var amd = await Pull($"{reg.Host}/lib/multi");
        Assert.Equal(MediaTypes.OciIndex, amd.Target.MediaType);
        Assert.Equal("amd64", amd.Config.Architecture);
        var arm = await Pull($"{reg.Host}/lib/multi", platform: PlatformSelector.Parse("linux/arm64"));
        Assert.Equal("arm64", arm.Config.Architecture);
        Assert.Equal("arm64", File.ReadAllText(Path.Combine(_store.Snapshots.LayerPath(arm.ChainIds[0]), "etc/platform")).Trim());
        var e = await Assert.ThrowsAsync<ImageException>(() => Pull($"{reg.Host}/lib/multi", platform: PlatformSelector.Parse("linux/s390x")));
        Assert.Contains("no manifest for platform linux/s390x", e.Message);
    }

    [Fact]
    public async Task BasicAuthWithAndWithoutCredentials()
    {
        var reg = await Registry(basic: ("alice", "s3cret"));
        await Push(reg, "busybox", "private/bb", creds: ("alice", "s3cret"));
        var e = await Assert.ThrowsAsync<ImageException>(() => Pull($"{reg.Host}/private/bb"));
        Assert.Contains("requires credentials", e.Message);
        Assert.Contains(reg.Host, e.Message);
        e = await Assert.ThrowsAsync<ImageException>(() => Pull($"{reg.Host}/private/bb", AuthConfig.FromCredentials(reg.Host, "alice", "wrong")));
        Assert.Contains("authentication failed", e.Message);

        // Credentials from a docker-style config.json.
        string cfg = Path.Combine(_dir, "config.json");
        File.WriteAllText(cfg, $"{{\"auths\":{{\"{reg.Host}\":{{\"auth\":\"{Convert.ToBase64String("alice:s3cret"u8)}\"}}}}}}");
        var img = await Pull($"{reg.Host}/private/bb", AuthConfig.Load(cfg));
        Assert.Equal("amd64", img.Config.Architecture);
    }

    [Fact]
    public async Task BearerTokensFromATokenServer()
    {
        var tokens = Own(new TokenServer("bob", "pw"));
        var reg = await Registry(tokens: tokens);
        await Push(reg, "busybox", "tok/bb", creds: ("bob", "pw"));
        int before = tokens.Issued;
        var img = await Pull($"{reg.Host}/tok/bb", AuthConfig.FromCredentials(reg.Host, "bob", "pw"));
        Assert.True(tokens.Issued > before, "the pull did not fetch a token");
        Assert.NotNull(_store.Names.Find(img.Name));
        var e = await Assert.ThrowsAsync<ImageException>(() => Pull($"{reg.Host}/tok/bb", AuthConfig.FromCredentials(reg.Host, "bob", "nope")));
        Assert.Contains("credentials rejected", e.Message);
    }

    [Fact]
    public async Task MirrorsServeOtherRegistriesAndDeadMirrorsFallBack()
    {
        var reg = await Registry();
        await Push(reg, "busybox", "pause", "3.9");
        string conf = Path.Combine(_dir, "registries.json");
        int dead = RegistryServer.FreePort();
        File.WriteAllText(conf, "{\"registries\": {" +
            $"\"registry.k8s.io\": {{\"mirrors\": [\"http://127.0.0.1:{dead}\", \"http://{reg.Host}\"]}}, " +
            $"\"{reg.Host}\": {{\"mirrors\": [\"http://127.0.0.1:{dead}\"]}}" + "}}");
        var config = RegistryConfig.Load(conf);
        // registry.k8s.io is not reachable from here: the second mirror serves it.
        var pause = await Pull("registry.k8s.io/pause:3.9", config: config);
        Assert.Equal("registry.k8s.io/pause:3.9", pause.Name);
        // The only mirror is down: the registry itself answers.
        var direct = await Pull($"{reg.Host}/pause:3.9", config: config);
        Assert.Equal(pause.Id, direct.Id);
    }

    [Fact]
    public async Task TamperedBlobIsRejectedAndNothingIsStored()
    {
        var reg = await Registry();
        await Push(reg, "busybox", "t/bb");
        var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(TestImages.Layout("busybox"), "blobs/sha256",
            JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(TestImages.Layout("busybox"), "index.json")), ImagesJsonContext.Default.ImageIndex)!.Manifests[0].ParsedDigest.Hex)),
            ImagesJsonContext.Default.ImageManifest)!;
        var layer = manifest.Layers[0].ParsedDigest;
        string data = reg.BlobDataPath(layer.Hex);
        var bytes = File.ReadAllBytes(data);
        bytes[bytes.Length / 2] ^= 0xff;
        File.WriteAllBytes(data, bytes);

        var e = await Assert.ThrowsAsync<DigestMismatchException>(() => Pull($"{reg.Host}/t/bb"));
        Assert.Equal(layer, e.Expected);
        Assert.False(_store.Content.Exists(layer));
        Assert.Empty(_store.Names.List());
        Assert.Empty(Directory.GetFiles(Path.Combine(_store.Root, "ingest"), "sha256-*"));
    }

    [Fact]
    public async Task ManifestFetchedByDigestMustMatchIt()
    {
        var reg = await Registry();
        var digest = await new Func<Task<Digest>>(async () =>
        {
            using var p = new RegistryPusher(reg.BaseUri);
            return await p.PushLayoutAsync(TestImages.Layout("busybox"), "m/bb", "latest");
        })();
        var manifestData = reg.BlobDataPath(digest.Hex);
        var bytes = File.ReadAllBytes(manifestData);
        // Same length and still valid JSON (the registry checks the size and parses what it serves): a size digit changes.
        int at = Array.FindLastIndex(bytes, b => b is >= (byte)'0' and <= (byte)'9');
        bytes[at] = (byte)(bytes[at] == '9' ? '8' : bytes[at] + 1);
        File.WriteAllBytes(manifestData, bytes);
        var e = await Assert.ThrowsAsync<DigestMismatchException>(() => Pull($"{reg.Host}/m/bb@{digest}"));
        Assert.Contains("manifest", e.Message);
        Assert.False(_store.Content.Exists(digest));
    }

    [Fact]
    public async Task InterruptedDownloadResumesWithRange()
    {
        var reg = await Registry();
        using (var p = new RegistryPusher(reg.BaseUri))
            await p.PushLayoutAsync(TestImages.RandomLayout(_dir, 3 << 20), "big/img", "latest");
        var proxy = Own(new FlakyProxy(reg.Port));
        proxy.CutNextBlobAfter(1 << 20);
        var img = await Pull($"{proxy.Host}/big/img");
        Assert.Contains(proxy.Requests, r => r.Contains("/blobs/") && r.Contains("Range: bytes=") && !r.Contains("bytes=0-"));
        Assert.True(_store.Content.Exists(img.Manifest.Layers[0].ParsedDigest));
    }

    [Fact]
    public async Task FailedPullShowsNoImageAndTheNextPullResumes()
    {
        var reg = await Registry();
        using (var p = new RegistryPusher(reg.BaseUri))
            await p.PushLayoutAsync(TestImages.RandomLayout(_dir, 2 << 20), "big/img2", "latest");
        var proxy = Own(new FlakyProxy(reg.Port));
        // Each attempt resumes where the last one stopped: the cut must be small enough that all of the client's
        // attempts together (4 × 200 kB) cannot reach the end of the ~2.1 MB layer, however fast it reads.
        proxy.CutEveryBlobAfter(200_000);
        await Assert.ThrowsAnyAsync<ImageException>(() => Pull($"{proxy.Host}/big/img2"));
        Assert.Empty(_store.Names.List());
        Assert.Empty(_store.Snapshots.Layers());

        proxy.Heal();
        while (proxy.Requests.TryDequeue(out _)) { }
        var img = await Pull($"{proxy.Host}/big/img2");
        Assert.NotNull(_store.Names.Find(img.Name));
        // The first layer request of the second pull continues where the ingest stopped.
        Assert.Contains(proxy.Requests, r => r.Contains($"/blobs/{img.Manifest.Layers[0].Digest}") && r.Contains("Range: bytes=") && !r.Contains("bytes=0-"));
    }

    [Fact]
    public async Task ConcurrentPullsDownloadEachBlobOnce()
    {
        var reg = await Registry();
        await Push(reg, "layered", "c/layered");
        var proxy = Own(new FlakyProxy(reg.Port));
        await Task.WhenAll(Pull($"{proxy.Host}/c/layered"), Pull($"{proxy.Host}/c/layered"), Pull($"{proxy.Host}/c/layered"));
        var blobGets = proxy.Requests.Where(r => r.StartsWith("GET ") && r.Contains("/blobs/")).Select(r => r.Split(' ')[1]).ToList();
        Assert.Equal(4, blobGets.Count); // config + three layers, once each
        Assert.Equal(blobGets.Count, blobGets.Distinct().Count());
    }

    [Fact]
    public async Task MissingImageAndUnreachableRegistryFailClearly()
    {
        var reg = await Registry();
        var e = await Assert.ThrowsAnyAsync<ImageException>(() => Pull($"{reg.Host}/no/such:tag"));
        Assert.Contains("not found", e.Message);
        int dead = RegistryServer.FreePort();
        e = await Assert.ThrowsAnyAsync<ImageException>(() => Pull($"127.0.0.1:{dead}/x/y"));
        Assert.Contains($"127.0.0.1:{dead}", e.Message);
        Assert.Empty(_store.Names.List());
    }
}
