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

    /// <summary>csrund's records of pods and containers, and the runtime state of its containers.</summary>
    public string StateRoot { get; set; } = "/var/lib/csrund";

    /// <summary>The per-container monitor: $CSRUN_MONITOR, or beside csrund.</summary>
    public string MonitorPath { get; set; } = Environment.GetEnvironmentVariable("CSRUN_MONITOR") is { Length: > 0 } m ? m : Path.Combine(AppContext.BaseDirectory, "csrun-monitor");

    /// <summary>Where the streaming server (exec, attach, port-forward URLs) listens; port 0 picks a free one.
    /// Loopback by default: the kubelet on the same node proxies to it.</summary>
    public System.Net.IPEndPoint StreamingEndpoint { get; set; } = new(System.Net.IPAddress.Loopback, 0);

    /// <summary>Where Localhost seccomp profiles given by a relative name are found (the kubelet's seccomp root).</summary>
    public string SeccompRoot { get; set; } = "/var/lib/kubelet/seccomp";

    /// <summary>registries.json (mirrors, plain-http hosts); null: $CSRUN_REGISTRIES_CONF or /etc/csrun/registries.json.</summary>
    public string? RegistriesConfigPath { get; set; }
}
