using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Csrun.Images.Tests.Fixtures;

/// <summary>
/// Debian's docker-registry (distribution 2.8) on 127.0.0.1 with filesystem storage in a temp dir: anonymous,
/// htpasswd basic auth, or bearer tokens from a <see cref="TokenServer"/>; plain http, or TLS with a certificate
/// of its own. Dispose kills the process it started and removes its directory.
/// </summary>
public sealed class RegistryServer : IAsyncDisposable
{
    public const string Binary = "/usr/bin/docker-registry";
    private readonly Process _process;
    private readonly X509Certificate2? _cert;

    public string Dir { get; }
    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public Uri BaseUri => new($"{(_cert is null ? "http" : "https")}://{Host}");
    /// <summary>Where the registry keeps blobs: docker/registry/v2/blobs/sha256/&lt;2 hex&gt;/&lt;hex&gt;/data.</summary>
    public string StorageDir => Path.Combine(Dir, "data");

    private RegistryServer(Process p, string dir, int port, X509Certificate2? cert) { _process = p; Dir = dir; Port = port; _cert = cert; }

    /// <summary>A handler for the test's own clients: over TLS it trusts this server's certificate and no other.</summary>
    public HttpMessageHandler NewHandler()
    {
        var h = new SocketsHttpHandler();
        if (_cert is { } cert)
            h.SslOptions.RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.GetCertHashString() == cert.GetCertHashString();
        return h;
    }

    public string BlobDataPath(string hex) => Path.Combine(StorageDir, "docker/registry/v2/blobs/sha256", hex[..2], hex, "data");

    public static async Task<RegistryServer> StartAsync((string User, string Password)? basicAuth = null, TokenServer? tokens = null, bool tls = false)
    {
        Assert.True(File.Exists(Binary), $"{Binary} not found: install Debian's docker-registry package (make deps)");
        string dir = Path.Combine("/var/tmp", "csrun-registry-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        string auth = "";
        if (basicAuth is { } b)
        {
            var h = Run("htpasswd", "-Bbn", b.User, b.Password);
            File.WriteAllText(Path.Combine(dir, "htpasswd"), h);
            auth = $"auth:\n  htpasswd:\n    realm: csrun-test\n    path: {dir}/htpasswd\n";
        }
        else if (tokens is not null)
        {
            File.WriteAllText(Path.Combine(dir, "token.pem"), tokens.CertificatePem);
            auth = $"auth:\n  token:\n    realm: {tokens.Realm}\n    service: {TokenServer.Service}\n    issuer: {TokenServer.Issuer}\n    rootcertbundle: {dir}/token.pem\n";
        }
        X509Certificate2? cert = null;
        string tlsConfig = "";
        if (tls)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var req = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            req.CertificateExtensions.Add(san.Build());
            cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            File.WriteAllText(Path.Combine(dir, "tls.crt"), cert.ExportCertificatePem());
            File.WriteAllText(Path.Combine(dir, "tls.key"), key.ExportPkcs8PrivateKeyPem());
            tlsConfig = $"  tls:\n    certificate: {dir}/tls.crt\n    key: {dir}/tls.key\n";
        }
        for (int attempt = 0; ; attempt++)
        {
            int port = FreePort();
            File.WriteAllText(Path.Combine(dir, "config.yml"),
                $"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {dir}/data\n  delete:\n    enabled: true\n" +
                $"http:\n  addr: 127.0.0.1:{port}\n{tlsConfig}{auth}");
            var psi = new ProcessStartInfo(Binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("serve");
            psi.ArgumentList.Add(Path.Combine(dir, "config.yml"));
            var p = Process.Start(psi)!;
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var server = new RegistryServer(p, dir, port, cert);
            if (await server.WaitReady()) return server;
            p.Kill();
            p.WaitForExit();
            p.Dispose();
            if (attempt == 3)
            {
                Directory.Delete(dir, true);
                Assert.Fail($"docker-registry did not start on 127.0.0.1:{port}");
            }
        }
    }

    private async Task<bool> WaitReady()
    {
        using var http = new HttpClient(NewHandler()) { Timeout = TimeSpan.FromSeconds(2) };
        for (int i = 0; i < 100; i++)
        {
            if (_process.HasExited) return false;
            try
            {
                using var r = await http.GetAsync(new Uri(BaseUri, "/v2/"));
                if (r.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized) return true;
            }
            catch (HttpRequestException) { }
            await Task.Delay(50);
        }
        return false;
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { Assert.Fail($"{file} not found: install apache2-utils (make deps)"); throw; }
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} failed: {p.StandardError.ReadToEnd()}");
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill();
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        _cert?.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
