using Csrun.Cni;
using Csrun.Images.Store;

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

    /// <summary>The image store, shared with csrun (default /var/lib/csrun, or $CSRUN_IMAGE_ROOT).</summary>
    public string ImageRoot { get; set; } = ImageStore.DefaultRoot;

    /// <summary>registries.json (mirrors, plain-http hosts); null: $CSRUN_REGISTRIES_CONF or /etc/csrun/registries.json.</summary>
    public string? RegistriesConfigPath { get; set; }
}
