using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Csrun.Images.Tests.Fixtures;

/// <summary>
/// A docker token endpoint on 127.0.0.1: checks basic credentials and issues RS256 JWTs that docker-registry's
/// token auth accepts (x5c header holding a self-signed certificate that is also the registry's rootcertbundle).
/// </summary>
public sealed class TokenServer : IDisposable
{
    public const string Service = "csrun-test-registry";
    public const string Issuer = "csrun-test-issuer";
    private readonly HttpListener _listener = new();
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _cert;
    private readonly (string User, string Password) _creds;
    private int _issued, _refused;

    public string Realm { get; }
    public string CertificatePem { get; }
    public int Issued => _issued;
    public int Refused => _refused;

    public TokenServer(string user, string password)
    {
        _creds = (user, password);
        var req = new CertificateRequest("CN=csrun test token signer", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        _cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        CertificatePem = _cert.ExportCertificatePem();
        for (int attempt = 0; ; attempt++)
        {
            int port = RegistryServer.FreePort();
            Realm = $"http://127.0.0.1:{port}/token";
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try { _listener.Start(); break; }
            catch (HttpListenerException) when (attempt < 3) { }
        }
        _ = Task.Run(Serve);
    }

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            try { Handle(ctx); }
            catch (Exception) { ctx.Response.StatusCode = 500; }
            finally { ctx.Response.Close(); }
        }
    }

    private void Handle(HttpListenerContext ctx)
    {
        string? auth = ctx.Request.Headers["Authorization"];
        string user = "";
        bool ok = false;
        if (auth is not null && auth.StartsWith("Basic ", StringComparison.Ordinal))
        {
            var up = Encoding.UTF8.GetString(Convert.FromBase64String(auth[6..])).Split(':', 2);
            ok = up.Length == 2 && up[0] == _creds.User && up[1] == _creds.Password;
            user = up[0];
        }
        if (!ok)
        {
            Interlocked.Increment(ref _refused);
            ctx.Response.StatusCode = 401;
            return;
        }
        var access = new JsonArray();
        foreach (var scope in (ctx.Request.QueryString.GetValues("scope") ?? []))
        {
            var parts = scope.Split(':');
            if (parts.Length == 3)
                access.Add((JsonNode)new JsonObject { ["type"] = parts[0], ["name"] = parts[1], ["actions"] = new JsonArray(parts[2].Split(',').Select(a => (JsonNode)a).ToArray()) });
        }
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new JsonObject { ["typ"] = "JWT", ["alg"] = "RS256", ["x5c"] = new JsonArray(Convert.ToBase64String(_cert.RawData)) };
        var claims = new JsonObject
        {
            ["iss"] = Issuer, ["sub"] = user, ["aud"] = Service, ["exp"] = now + 300, ["nbf"] = now - 10, ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"), ["access"] = access,
        };
        string signingInput = B64(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + B64(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        string jwt = signingInput + "." + B64(_key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Interlocked.Increment(ref _issued);
        var body = Encoding.UTF8.GetBytes(new JsonObject { ["token"] = jwt, ["expires_in"] = 300 }.ToJsonString());
        ctx.Response.ContentType = "application/json";
        ctx.Response.OutputStream.Write(body);
    }

    private static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose()
    {
        _listener.Close();
        _cert.Dispose();
        _key.Dispose();
    }
}
