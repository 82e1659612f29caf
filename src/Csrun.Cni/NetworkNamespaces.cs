using Csrun.Linux;

namespace Csrun.Cni;

/// <summary>
/// Named network namespaces held by bind mounts under one directory (/run/csrund/netns by default), the way
/// `ip netns add` holds them under /run/netns: a pod's namespace outlives any process in it and survives a
/// daemon restart, with no pause process.
/// </summary>
public sealed class NetworkNamespaces
{
    public const string DefaultDirectory = "/run/csrund/netns";

    private readonly object _prepareLock = new();
    private bool _prepared;

    public NetworkNamespaces(string directory = DefaultDirectory) => Directory = directory;

    public string Directory { get; }

    public string PathOf(string id)
    {
        if (id.Length == 0 || id.Contains('/') || id is "." or "..")
            throw new ArgumentException($"invalid network namespace name \"{id}\"", nameof(id));
        return Path.Combine(Directory, id);
    }

    /// <summary>Creates the namespace named <paramref name="id"/> and returns its path (for CNI_NETNS and the OCI spec).</summary>
    public string Create(string id)
    {
        string path = PathOf(id);
        lock (_prepareLock)
        {
            if (!_prepared)
            {
                Netns.PrepareDirectory(Directory);
                _prepared = true;
            }
        }
        Netns.Create(path);
        return path;
    }

    /// <summary>Releases the namespace; removing one that does not exist succeeds (StopPodSandbox is idempotent).</summary>
    public void Remove(string id) => Netns.Remove(PathOf(id));

    /// <summary>Undoes the directory's shared self-mount. Only for owners of a private directory (tests); the daemon keeps it.</summary>
    public void ReleaseDirectory()
    {
        lock (_prepareLock)
        {
            Netns.ReleaseDirectory(Directory);
            _prepared = false;
        }
    }
}
