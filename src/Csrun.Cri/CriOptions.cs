using Csrun.Cni;

namespace Csrun.Cri;

/// <summary>csrund's settings: where it listens and where it finds networks.</summary>
public sealed class CriOptions
{
    public const string DefaultSocketPath = "/run/csrund/csrund.sock";

    /// <summary>The unix socket the CRI is served on (kubelet's --container-runtime-endpoint=unix://...).</summary>
    public string SocketPath { get; set; } = DefaultSocketPath;

    public IReadOnlyList<string> CniConfigDirs { get; set; } = CniConfigList.DefaultConfigDirs;
    public IReadOnlyList<string> CniPluginDirs { get; set; } = CniConfigList.DefaultPluginDirs;
    public string NetnsDirectory { get; set; } = NetworkNamespaces.DefaultDirectory;
}
