using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Csrun.Images.Content;

namespace Csrun.Images.Registry;

public sealed record FetchedManifest(byte[] Body, string MediaType, Digest Digest);

public sealed record RegistryClientOptions
{
    /// <summary>For tests: the handler every request goes through (TLS settings are then the handler's).</summary>
    public HttpMessageHandler? Handler { get; init; }
    public int MaxAttempts { get; init; } = 4;
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(250);
    public string UserAgent { get; init; } = "csrun/0.1";
}

/// <summary>
/// OCI distribution / Docker Registry v2 client: manifests and blobs over each endpoint of a registry (mirrors
/// first), with anonymous, basic and bearer-token auth, redirects that drop credentials across hosts, retries
/// with Range resume, and digest verification of everything it returns.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    private const int MaxManifestBytes = 4 << 20;
    private readonly RegistryConfig _config;
    private readonly AuthConfig _auth;
    private readonly RegistryClientOptions _options;
    private readonly HttpClient _http, _insecureHttp;
    // Tokens per (endpoint, scope) until they expire; basic credentials per endpoint once it asked for them.
    private readonly ConcurrentDictionary<string, (AuthenticationHeaderValue Header, DateTimeOffset Expires)> _tokens = new();

    public RegistryClient(RegistryConfig config, AuthConfig auth, RegistryClientOptions? options = null)
    {
        _config = config;
        _auth = auth;
        _options = options ?? new RegistryClientOptions();
        _http = NewClient(_options.Handler, skipVerify: false);
        _insecureHttp = _options.Handler is null ? NewClient(null, skipVerify: true) : _http;
    }

    private HttpClient NewClient(HttpMessageHandler? handler, bool skipVerify)
    {
        handler ??= new SocketsHttpHandler
        {
            AllowAutoRedirect = false, // redirects are followed here, without credentials for other hosts
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            SslOptions = skipVerify ? new System.Net.Security.SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true } : new(),
        };
        var c = new HttpClient(handler, disposeHandler: _options.Handler is null) { Timeout = Timeout.InfiniteTimeSpan };
        c.DefaultRequestHeaders.UserAgent.ParseAdd(_options.UserAgent);
        return c;
    }

    public async Task<FetchedManifest> GetManifestAsync(ImageReference image, string reference, CancellationToken ct = default)
    {
        Digest? expected = Digest.TryParse(reference, out var d) ? d : null;
        return await OverEndpoints(image, "manifest " + reference, async (ep, ct2) =>
        {
            using var resp = await SendAsync(ep, image, () =>
            {
                var req = new HttpRequestMessage(HttpMethod.Get, Url(ep, image, "manifests", reference));
                foreach (var mt in MediaTypes.Manifests) req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(mt));
                return req;
            }, ct2).ConfigureAwait(false);
            var body = await ReadLimited(resp, ct2).ConfigureAwait(false);
            var digest = Digest.Sha256(body);
            if (expected is { } want && want != digest)
                throw new DigestMismatchException($"{image.Name}: manifest from {ep.BaseUri.Authority}", want, digest);
            if (expected is null && resp.Headers.TryGetValues("Docker-Content-Digest", out var hv) &&
                Digest.TryParse(hv.FirstOrDefault(), out var claimed) && claimed.Algorithm == "sha256" && claimed != digest)
                throw new DigestMismatchException($"{image}: manifest from {ep.BaseUri.Authority} (Docker-Content-Digest)", claimed, digest);
            return new FetchedManifest(body, MediaTypeOf(resp, body), digest);
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Downloads <paramref name="blob"/> into <paramref name="writer"/> and commits it; resumes from the
    /// writer's offset (an earlier interrupted download) and after failures, with Range requests.</summary>
    public async Task FetchBlobAsync(ImageReference image, Descriptor blob, ContentWriter writer, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        var digest = blob.ParsedDigest;
        await OverEndpoints(image, "blob " + digest, async (ep, ct2) =>
        {
            long offset = writer.Offset;
            using var resp = await SendAsync(ep, image, () =>
            {
                var req = new HttpRequestMessage(HttpMethod.Get, Url(ep, image, "blobs", digest.ToString()));
                if (offset > 0) req.Headers.Range = new RangeHeaderValue(offset, null);
                return req;
            }, ct2, allowRangeNotSatisfiable: true).ConfigureAwait(false);
            if (resp.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                writer.Restart();
                throw new TransientException("range not satisfiable; restarting the download");
            }
            if (resp.StatusCode == HttpStatusCode.PartialContent)
            {
                if (resp.Content.Headers.ContentRange?.From is long from && from != offset)
                    throw new ImageException($"blob {digest}: registry answered a range from {from}, asked {offset}");
            }
            else writer.Restart(); // a 200: the whole blob again
            progress?.Report(writer.Offset);
            await using var body = await resp.Content.ReadAsStreamAsync(ct2).ConfigureAwait(false);
            var buf = new byte[128 * 1024];
            while (true)
            {
                int n;
                try { n = await body.ReadAsync(buf, ct2).ConfigureAwait(false); }
                catch (Exception e) when (e is IOException or HttpRequestException)
                {
                    throw new TransientException($"download interrupted at {writer.Offset} of {blob.Size} bytes: {e.Message}", e);
                }
                if (n == 0) break;
                await writer.WriteAsync(buf.AsMemory(0, n), ct2).ConfigureAwait(false);
                progress?.Report(writer.Offset);
            }
            if (blob.Size >= 0 && writer.Offset < blob.Size)
                throw new TransientException($"download ended at {writer.Offset} of {blob.Size} bytes");
            writer.Commit(); // verifies size and digest; a mismatch drops the ingest
            return true;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Tries each endpoint (mirrors first). Within one, transient failures are retried with backoff;
    /// a mirror that fails or lacks the content hands over to the next endpoint.</summary>
    private async Task<T> OverEndpoints<T>(ImageReference image, string what, Func<RegistryEndpoint, CancellationToken, Task<T>> attempt, CancellationToken ct)
    {
        var endpoints = _config.EndpointsFor(image.Registry);
        Exception? last = null;
        foreach (var ep in endpoints)
        {
            for (int i = 1; i <= _options.MaxAttempts; i++)
            {
                try { return await attempt(ep, ct).ConfigureAwait(false); }
                catch (NotFoundException e) when (ep.IsMirror) { last = e; break; }
                catch (HttpRequestException e) when (ep.IsMirror && e.StatusCode is null) { last = e; break; } // unreachable: next
                catch (Exception e) when (IsTransient(e) && !ct.IsCancellationRequested)
                {
                    last = e;
                    if (i == _options.MaxAttempts) break;
                    await Task.Delay(_options.RetryDelay * (1 << (i - 1)), ct).ConfigureAwait(false);
                }
            }
            if (!ep.IsMirror && last is not null) break;
        }
        throw last switch
        {
            ImageException ie and not TransientException => ie,
            _ => new ImageException($"{image.Name}: {what}: {Describe(last)}", last),
        };
    }

    private static bool IsTransient(Exception e) => e is TransientException or HttpRequestException or IOException
        || (e is TaskCanceledException tce && tce.InnerException is TimeoutException);

    private static string Describe(Exception? e) => e switch
    {
        null => "no endpoint answered",
        HttpRequestException h when h.InnerException is { } inner => $"{h.Message} ({inner.Message})",
        _ => e.Message,
    };

    private static Uri Url(RegistryEndpoint ep, ImageReference image, string kind, string reference) =>
        new(ep.BaseUri, $"{ep.BaseUri.AbsolutePath.TrimEnd('/')}/v2/{image.Repository}/{kind}/{reference}");

    /// <summary>Sends with the credentials the endpoint asks for, following redirects. Maps error statuses
    /// to exceptions: 404 → NotFoundException, 401/403 → ImageException, 429/5xx → transient.</summary>
    private async Task<HttpResponseMessage> SendAsync(RegistryEndpoint ep, ImageReference image, Func<HttpRequestMessage> make, CancellationToken ct, bool allowRangeNotSatisfiable = false)
    {
        var http = ep.SkipTlsVerify ? _insecureHttp : _http;
        string scope = $"repository:{image.Repository}:pull";
        string key = ep.BaseUri.Authority + " " + scope;
        for (int authRound = 0; ; authRound++)
        {
            var req = make();
            if (_tokens.TryGetValue(key, out var tok) && tok.Expires > DateTimeOffset.UtcNow) req.Headers.Authorization = tok.Header;
            var resp = await FollowRedirects(http, req, ct).ConfigureAwait(false);
            if (resp.StatusCode == HttpStatusCode.Unauthorized && authRound == 0)
            {
                var challenge = resp.Headers.WwwAuthenticate.FirstOrDefault();
                resp.Dispose();
                if (challenge is null) throw new ImageException($"{ep.BaseUri.Authority}: 401 Unauthorized without a WWW-Authenticate challenge");
                _tokens[key] = await Authenticate(http, ep, challenge, scope, ct).ConfigureAwait(false);
                continue;
            }
            if (resp.IsSuccessStatusCode || (allowRangeNotSatisfiable && resp.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable))
                return resp;
            string detail = await ErrorText(resp, ct).ConfigureAwait(false);
            var status = resp.StatusCode;
            resp.Dispose();
            string where = $"{ep.BaseUri.Authority}/{image.Repository}";
            throw status switch
            {
                HttpStatusCode.NotFound => new NotFoundException($"{where}: not found{detail}"),
                HttpStatusCode.Unauthorized => new ImageException($"{where}: authentication failed (401){detail}"),
                HttpStatusCode.Forbidden => new ImageException($"{where}: access denied (403){detail}"),
                HttpStatusCode.TooManyRequests or >= HttpStatusCode.InternalServerError => new TransientException($"{where}: {(int)status} {status}{detail}"),
                _ => new ImageException($"{where}: {(int)status} {status}{detail}"),
            };
        }
    }

    private static async Task<HttpResponseMessage> FollowRedirects(HttpClient http, HttpRequestMessage req, CancellationToken ct)
    {
        for (int hops = 0; ; hops++)
        {
            var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if ((int)resp.StatusCode is not (301 or 302 or 303 or 307 or 308) || resp.Headers.Location is null) return resp;
            if (hops == 5) { resp.Dispose(); throw new ImageException($"{req.RequestUri}: too many redirects"); }
            var next = resp.Headers.Location.IsAbsoluteUri ? resp.Headers.Location : new Uri(req.RequestUri!, resp.Headers.Location);
            resp.Dispose();
            var follow = new HttpRequestMessage(HttpMethod.Get, next);
            foreach (var a in req.Headers.Accept) follow.Headers.Accept.Add(a);
            follow.Headers.Range = req.Headers.Range;
            // Storage backends get no registry credentials.
            if (next.Authority == req.RequestUri!.Authority) follow.Headers.Authorization = req.Headers.Authorization;
            req.Dispose();
            req = follow;
        }
    }

    private async Task<(AuthenticationHeaderValue, DateTimeOffset)> Authenticate(HttpClient http, RegistryEndpoint ep, AuthenticationHeaderValue challenge, string scope, CancellationToken ct)
    {
        var creds = _auth.For(ep.BaseUri.Authority);
        if (challenge.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            if (creds is null) throw new ImageException($"{ep.BaseUri.Authority}: the registry requires credentials (basic auth) and none are configured for it");
            return (Basic(creds.Value), DateTimeOffset.MaxValue);
        }
        if (!challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
            throw new ImageException($"{ep.BaseUri.Authority}: unsupported authentication scheme \"{challenge.Scheme}\"");
        var p = ParseChallenge(challenge.Parameter ?? "");
        if (!p.TryGetValue("realm", out var realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri))
            throw new ImageException($"{ep.BaseUri.Authority}: bearer challenge without a usable realm");
        var q = new StringBuilder();
        if (p.TryGetValue("service", out var service)) q.Append("service=").Append(Uri.EscapeDataString(service));
        q.Append(q.Length > 0 ? "&" : "").Append("scope=").Append(Uri.EscapeDataString(p.GetValueOrDefault("scope") ?? scope));
        var url = new UriBuilder(realmUri) { Query = (realmUri.Query.Length > 1 ? realmUri.Query[1..] + "&" : "") + q }.Uri;
        using var req = new HttpRequestMessage(HttpMethod.Get, url);
        if (creds is { } c) req.Headers.Authorization = Basic(c);
        using var resp = await http.SendAsync(req, ct).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode)
            throw new ImageException($"{ep.BaseUri.Authority}: token request to {realmUri.Authority} failed: {(int)resp.StatusCode} {resp.StatusCode}" +
                (resp.StatusCode == HttpStatusCode.Unauthorized ? (creds is null ? " (no credentials configured)" : " (credentials rejected)") : ""));
        TokenResponse? t;
        try { t = JsonSerializer.Deserialize(await resp.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false), RegistryJsonContext.Default.TokenResponse); }
        catch (JsonException e) { throw new ImageException($"{realmUri.Authority}: invalid token response: {e.Message}"); }
        string token = t?.Token ?? t?.AccessToken ?? throw new ImageException($"{realmUri.Authority}: token response without a token");
        // Renew a little early; docker's default lifetime is 60 s.
        var expires = DateTimeOffset.UtcNow.AddSeconds(Math.Max(10, (t!.ExpiresIn ?? 60) - 5));
        return (new AuthenticationHeaderValue("Bearer", token), expires);
    }

    private static AuthenticationHeaderValue Basic((string User, string Password) c) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.User}:{c.Password}")));

    /// <summary>key="quoted, value",key2=token — RFC 7235 auth-params.</summary>
    public static Dictionary<string, string> ParseChallenge(string s)
    {
        var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && (s[i] == ',' || s[i] == ' ')) i++;
            int eq = s.IndexOf('=', i);
            if (eq < 0) break;
            string key = s[i..eq].Trim();
            i = eq + 1;
            var v = new StringBuilder();
            if (i < s.Length && s[i] == '"')
            {
                for (i++; i < s.Length && s[i] != '"'; i++)
                {
                    if (s[i] == '\\' && i + 1 < s.Length) i++;
                    v.Append(s[i]);
                }
                i++;
            }
            else
                for (; i < s.Length && s[i] != ','; i++) v.Append(s[i]);
            d[key] = v.ToString().Trim();
        }
        return d;
    }

    private static async Task<byte[]> ReadLimited(HttpResponseMessage resp, CancellationToken ct)
    {
        if (resp.Content.Headers.ContentLength > MaxManifestBytes) throw new ImageException($"manifest larger than {MaxManifestBytes} bytes");
        await using var s = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var ms = new MemoryStream();
        var buf = new byte[16 * 1024];
        int n;
        try
        {
            while ((n = await s.ReadAsync(buf, ct).ConfigureAwait(false)) > 0)
            {
                ms.Write(buf, 0, n);
                if (ms.Length > MaxManifestBytes) throw new ImageException($"manifest larger than {MaxManifestBytes} bytes");
            }
        }
        catch (IOException e) { throw new TransientException("manifest download interrupted: " + e.Message, e); }
        return ms.ToArray();
    }

    /// <summary>The Content-Type, unless it is generic; then the document's own mediaType field.</summary>
    private static string MediaTypeOf(HttpResponseMessage resp, byte[] body)
    {
        string? ct = resp.Content.Headers.ContentType?.MediaType;
        if (ct is not null && (MediaTypes.IsIndex(ct) || MediaTypes.IsManifest(ct))) return ct;
        try
        {
            var probe = JsonSerializer.Deserialize(body, ImagesJsonContext.Default.MediaTypeProbe);
            if (probe?.MediaType is { Length: > 0 } mt) return mt;
            if (probe?.Manifests is not null) return MediaTypes.OciIndex;
            if (probe?.Config is not null) return MediaTypes.OciManifest;
        }
        catch (JsonException) { }
        throw new ImageException($"manifest: unknown media type \"{ct}\"");
    }

    private static async Task<string> ErrorText(HttpResponseMessage resp, CancellationToken ct)
    {
        try
        {
            string body = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            body = body.Trim();
            return body.Length == 0 ? "" : ": " + (body.Length > 300 ? body[..300] : body);
        }
        catch (Exception e) when (e is IOException or HttpRequestException) { return ""; }
    }

    public void Dispose()
    {
        _http.Dispose();
        if (!ReferenceEquals(_insecureHttp, _http)) _insecureHttp.Dispose();
    }

    private sealed class TransientException(string message, Exception? inner = null) : ImageException(message, inner);

    private sealed class NotFoundException(string message) : ImageException(message);
}
