using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Csrun.Images.Content;

namespace Csrun.Images.Registry;

/// <summary>Where to fetch from for one registry host: a mirror, or the registry itself.</summary>
public sealed record RegistryEndpoint(Uri BaseUri, bool IsMirror, bool SkipTlsVerify);

public sealed class RegistryHostConfig
{
    /// <summary>Base URLs tried in order before the registry itself ("http://127.0.0.1:5000"; a URL without
    /// a scheme is https, or http when that host is insecure).</summary>
    [JsonPropertyName("mirrors")] public List<string>? Mirrors { get; set; }
    /// <summary>Plain http allowed (and TLS certificates not verified when https is used).</summary>
    [JsonPropertyName("insecure")] public bool Insecure { get; set; }
}

public sealed class RegistryConfigFile
{
    [JsonPropertyName("registries")] public Dictionary<string, RegistryHostConfig>? Registries { get; set; }
}

/// <summary>
/// The registry configuration csrun and csrund share (default /etc/csrun/registries.json, or
/// $CSRUN_REGISTRIES_CONF), in the spirit of containerd's hosts.toml:
/// <code>
/// { "registries": {
///     "registry.k8s.io": { "mirrors": ["http://127.0.0.1:5000"] },
///     "docker.io":       { "mirrors": ["https://mirror.example.com"] },
///     "build.lan:5000":  { "insecure": true } } }
/// </code>
/// Loopback hosts (127.0.0.0/8, ::1, localhost) are plain http without configuration, as docker treats them.
/// </summary>
public sealed class RegistryConfig
{
    public const string DefaultPath = "/etc/csrun/registries.json";
    private readonly Dictionary<string, RegistryHostConfig> _hosts;

    public RegistryConfig(Dictionary<string, RegistryHostConfig>? hosts = null) =>
        _hosts = hosts ?? new Dictionary<string, RegistryHostConfig>(StringComparer.OrdinalIgnoreCase);

    public static RegistryConfig Load(string? path = null)
    {
        path ??= Environment.GetEnvironmentVariable("CSRUN_REGISTRIES_CONF") is { Length: > 0 } env ? env : DefaultPath;
        if (!File.Exists(path)) return new RegistryConfig();
        RegistryConfigFile? file;
        try { file = JsonSerializer.Deserialize(File.ReadAllBytes(path), RegistryJsonContext.Default.RegistryConfigFile); }
        catch (JsonException e) { throw new ImageException($"{path}: invalid registry configuration: {e.Message}"); }
        var hosts = new Dictionary<string, RegistryHostConfig>(StringComparer.OrdinalIgnoreCase);
        foreach (var (host, cfg) in file?.Registries ?? [])
        {
            foreach (var m in cfg.Mirrors ?? [])
                if (!Uri.TryCreate(m.Contains("://") ? m : "https://" + m, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                    throw new ImageException($"{path}: registries.\"{host}\".mirrors: \"{m}\" is not an http(s) URL");
            hosts[host == "index.docker.io" ? ImageReference.DockerHub : host] = cfg;
        }
        return new RegistryConfig(hosts);
    }

    /// <summary>The mirrors of <paramref name="host"/> in order, then the registry itself.</summary>
    public IReadOnlyList<RegistryEndpoint> EndpointsFor(string host)
    {
        var list = new List<RegistryEndpoint>();
        _hosts.TryGetValue(host, out var cfg);
        foreach (var m in cfg?.Mirrors ?? [])
        {
            var u = new Uri(m.Contains("://") ? m : (IsInsecure(HostOf(m)) ? "http://" : "https://") + m);
            list.Add(new RegistryEndpoint(u, IsMirror: true, SkipTlsVerify: IsInsecure(u.Authority)));
        }
        string upstream = host == ImageReference.DockerHub ? "registry-1.docker.io" : host;
        bool insecure = IsInsecure(host);
        list.Add(new RegistryEndpoint(new Uri((insecure ? "http://" : "https://") + upstream), IsMirror: false, SkipTlsVerify: insecure));
        return list;
    }

    public bool IsInsecure(string host) =>
        (_hosts.TryGetValue(host, out var c) && c.Insecure) || IsLoopback(host);

    private static string HostOf(string hostPort) => hostPort.Split('/')[0];

    private static bool IsLoopback(string hostPort)
    {
        string h = hostPort;
        if (h.StartsWith('[')) h = h[1..h.IndexOf(']')];
        else if (h.Count(c => c == ':') == 1) h = h[..h.IndexOf(':')];
        return h == "localhost" || (IPAddress.TryParse(h, out var ip) && IPAddress.IsLoopback(ip));
    }
}

/// <summary>docker-style credentials: config.json's "auths" (auth = base64 user:password, or username/password).</summary>
public sealed class AuthConfig
{
    private readonly Dictionary<string, (string User, string Password)> _creds = new(StringComparer.OrdinalIgnoreCase);

    public static AuthConfig Empty => new();

    public static AuthConfig FromCredentials(string host, string user, string password)
    {
        var a = new AuthConfig();
        a._creds[Normalize(host)] = (user, password);
        return a;
    }

    /// <summary>From <paramref name="path"/>, else $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json.</summary>
    public static AuthConfig Load(string? path = null)
    {
        path ??= Environment.GetEnvironmentVariable("REGISTRY_AUTH_FILE") is { Length: > 0 } raf ? raf
            : Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } dc ? Path.Combine(dc, "config.json")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker", "config.json");
        var a = new AuthConfig();
        if (!File.Exists(path)) return a;
        DockerConfigFile? file;
        try { file = JsonSerializer.Deserialize(File.ReadAllBytes(path), RegistryJsonContext.Default.DockerConfigFile); }
        catch (JsonException e) { throw new ImageException($"{path}: invalid auth file: {e.Message}"); }
        foreach (var (host, entry) in file?.Auths ?? [])
        {
            if (entry.Auth is { Length: > 0 } b64)
            {
                string decoded;
                try { decoded = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(b64)); }
                catch (FormatException) { throw new ImageException($"{path}: auths.\"{host}\".auth is not base64"); }
                int colon = decoded.IndexOf(':');
                if (colon < 0) throw new ImageException($"{path}: auths.\"{host}\".auth is not base64(user:password)");
                a._creds[Normalize(host)] = (decoded[..colon], decoded[(colon + 1)..]);
            }
            else if (entry.Username is { Length: > 0 } u)
                a._creds[Normalize(host)] = (u, entry.Password ?? "");
        }
        return a;
    }

    public (string User, string Password)? For(string host) =>
        _creds.TryGetValue(Normalize(host), out var c) ? c : null;

    /// <summary>"https://index.docker.io/v1/" and "registry-1.docker.io" are docker.io; scheme and path dropped.</summary>
    private static string Normalize(string host)
    {
        string h = host;
        int scheme = h.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) h = h[(scheme + 3)..];
        h = h.Split('/')[0];
        return h is "index.docker.io" or "registry-1.docker.io" ? ImageReference.DockerHub : h;
    }
}

public sealed class DockerConfigFile
{
    [JsonPropertyName("auths")] public Dictionary<string, DockerAuthEntry>? Auths { get; set; }
}

public sealed class DockerAuthEntry
{
    [JsonPropertyName("auth")] public string? Auth { get; set; }
    [JsonPropertyName("username")] public string? Username { get; set; }
    [JsonPropertyName("password")] public string? Password { get; set; }
}

public sealed class TokenResponse
{
    [JsonPropertyName("token")] public string? Token { get; set; }
    [JsonPropertyName("access_token")] public string? AccessToken { get; set; }
    [JsonPropertyName("expires_in")] public int? ExpiresIn { get; set; }
}

[JsonSourceGenerationOptions(ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(RegistryConfigFile))]
[JsonSerializable(typeof(DockerConfigFile))]
[JsonSerializable(typeof(TokenResponse))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
