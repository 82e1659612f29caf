using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Csrun.Cri.Streaming;

/// <summary>
/// Exec, Attach and PortForward requests waiting for their client, by single-use random token (the URL the RPC
/// answered with). A token is good for one minute, as in the kubelet's streaming server.
/// </summary>
public sealed class StreamRequests
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, (object Request, DateTime Expires)> _pending = new(StringComparer.Ordinal);

    /// <summary>The streaming server's base URL (http://127.0.0.1:PORT), known once it listens.</summary>
    public string BaseUrl { get; set; } = "";

    public string Add(object request)
    {
        var now = DateTime.UtcNow;
        foreach (var (key, value) in _pending)
            if (value.Expires < now) _pending.TryRemove(key, out _);
        string token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(12)).Replace('+', '-').Replace('/', '_');
        _pending[token] = (request, now + Lifetime);
        return token;
    }

    public T? Take<T>(string token) where T : class =>
        _pending.TryRemove(token, out var entry) && entry.Expires >= DateTime.UtcNow ? entry.Request as T : null;
}
