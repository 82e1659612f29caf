using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Csrun.Images.Content;
using Csrun.Images.Registry;

namespace Csrun.Images.Tests.Fixtures;

/// <summary>Uploads blobs and manifests (distribution spec monolithic upload), with basic or bearer auth:
/// how tests put images into a <see cref="RegistryServer"/>.</summary>
public sealed class RegistryPusher(Uri registry, (string User, string Password)? creds = null, HttpMessageHandler? handler = null) : IDisposable
{
    private readonly HttpClient _http = handler is null ? new() : new(handler);
    private AuthenticationHeaderValue? _auth;

    public async Task<Digest> PushBlobAsync(string repo, byte[] data)
    {
        var digest = Digest.Sha256(data);
        using var start = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, new Uri(registry, $"/v2/{repo}/blobs/uploads/")), repo);
        Assert.Equal(HttpStatusCode.Accepted, start.StatusCode);
        var loc = start.Headers.Location!;
        var uri = loc.IsAbsoluteUri ? loc : new Uri(registry, loc);
        var put = new UriBuilder(uri) { Query = (uri.Query.Length > 1 ? uri.Query[1..] + "&" : "") + "digest=" + Uri.EscapeDataString(digest.ToString()) }.Uri;
        using var done = await SendAsync(() => new HttpRequestMessage(HttpMethod.Put, put)
        {
            Content = new ByteArrayContent(data) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } },
        }, repo);
        Assert.True(done.StatusCode == HttpStatusCode.Created, $"blob upload: {done.StatusCode} {await done.Content.ReadAsStringAsync()}");
        return digest;
    }

    public async Task<Digest> PushManifestAsync(string repo, string reference, byte[] body, string mediaType)
    {
        using var r = await SendAsync(() => new HttpRequestMessage(HttpMethod.Put, new Uri(registry, $"/v2/{repo}/manifests/{reference}"))
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue(mediaType) } },
        }, repo);
        Assert.True(r.StatusCode == HttpStatusCode.Created, $"manifest upload: {r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        return Digest.Sha256(body);
    }

    /// <summary>Pushes the image an OCI layout's index.json names (an image or a nested index) under <paramref name="tag"/>.</summary>
    public async Task<Digest> PushLayoutAsync(string layout, string repo, string tag)
    {
        var index = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(layout, "index.json")), ImagesJsonContext.Default.ImageIndex)!;
        return await PushTree(layout, repo, index.Manifests[0], tag);
    }

    private async Task<Digest> PushTree(string layout, string repo, Descriptor d, string? tag)
    {
        byte[] Read(Descriptor x) => File.ReadAllBytes(Path.Combine(layout, "blobs", "sha256", x.ParsedDigest.Hex));
        var body = Read(d);
        if (MediaTypes.IsIndex(d.MediaType))
        {
            var index = JsonSerializer.Deserialize(body, ImagesJsonContext.Default.ImageIndex)!;
            foreach (var m in index.Manifests) await PushTree(layout, repo, m, null);
        }
        else
        {
            var m = JsonSerializer.Deserialize(body, ImagesJsonContext.Default.ImageManifest)!;
            await PushBlobAsync(repo, Read(m.Config));
            foreach (var l in m.Layers) await PushBlobAsync(repo, Read(l));
        }
        return await PushManifestAsync(repo, tag ?? d.Digest, body, d.MediaType);
    }

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, string repo)
    {
        var req = make();
        req.Headers.Authorization = _auth;
        var resp = await _http.SendAsync(req);
        if (resp.StatusCode != HttpStatusCode.Unauthorized || creds is null) return resp;
        var challenge = resp.Headers.WwwAuthenticate.First();
        resp.Dispose();
        string basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{creds.Value.User}:{creds.Value.Password}"));
        if (challenge.Scheme == "Basic") _auth = new AuthenticationHeaderValue("Basic", basic);
        else
        {
            var p = RegistryClient.ParseChallenge(challenge.Parameter!);
            var tokenReq = new HttpRequestMessage(HttpMethod.Get,
                $"{p["realm"]}?service={Uri.EscapeDataString(p["service"])}&scope={Uri.EscapeDataString($"repository:{repo}:pull,push")}");
            tokenReq.Headers.Authorization = new AuthenticationHeaderValue("Basic", basic);
            using var tr = await _http.SendAsync(tokenReq);
            tr.EnsureSuccessStatusCode();
            using var doc = JsonDocument.Parse(await tr.Content.ReadAsStringAsync());
            _auth = new AuthenticationHeaderValue("Bearer", doc.RootElement.GetProperty("token").GetString());
        }
        var again = make();
        again.Headers.Authorization = _auth;
        return await _http.SendAsync(again);
    }

    public void Dispose() => _http.Dispose();
}
