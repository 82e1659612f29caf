using System.Reflection;
using System.Text.Json.Nodes;
using Csrun.Cni;
using Csrun.Cri.V1;
using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>Version, Status, UpdateRuntimeConfig and RuntimeConfig: what the kubelet asks before it runs any pod.</summary>
public sealed class RuntimeStatusService
{
    public const string RuntimeName = "csrun";
    public const string RuntimeApiVersion = "v1";

    // The kubelet's own names for these conditions and the reason containerd gives without a network.
    public const string RuntimeReady = "RuntimeReady", NetworkReady = "NetworkReady", NetworkPluginNotReady = "NetworkPluginNotReady";

    private static readonly string s_runtimeVersion =
        typeof(RuntimeStatusService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    private readonly CriOptions _options;
    private readonly object _lock = new();
    private string _podCidr = "";

    public RuntimeStatusService(CriOptions options) => _options = options;

    /// <summary>The pod CIDR the kubelet last sent (empty until it does); the network setup of sandboxes reads it.</summary>
    public string PodCidr
    {
        get { lock (_lock) return _podCidr; }
    }

    public Task<VersionResponse> Version(VersionRequest request, ServerCallContext context) =>
        Task.FromResult(new VersionResponse
        {
            // "version" is the kubelet-facing API version of the Version RPC itself, fixed at 0.1.0 by the CRI.
            Version = "0.1.0",
            RuntimeName = RuntimeName,
            RuntimeVersion = s_runtimeVersion,
            RuntimeApiVersion = RuntimeApiVersion,
        });

    public Task<StatusResponse> Status(StatusRequest request, ServerCallContext context)
    {
        var network = new RuntimeCondition { Type = NetworkReady, Status = true };
        string? cniSource = null;
        try
        {
            CniConfigList? config = CniConfigList.LoadFirst(_options.CniConfigDirs);
            if (config is null)
            {
                network.Status = false;
                network.Reason = NetworkPluginNotReady;
                network.Message = $"cni config uninitialized: no network config in {string.Join(", ", _options.CniConfigDirs)}";
            }
            else
            {
                cniSource = config.Source;
                string? missing = config.Plugins.Select(p => (string)p["type"]!).FirstOrDefault(t => !PluginExists(t));
                if (missing is not null)
                {
                    network.Status = false;
                    network.Reason = NetworkPluginNotReady;
                    network.Message = $"{config.Source}: CNI plugin \"{missing}\" not found in {string.Join(":", _options.CniPluginDirs)}";
                }
            }
        }
        catch (CniException e)
        {
            network.Status = false;
            network.Reason = NetworkPluginNotReady;
            network.Message = e.Message;
        }

        var response = new StatusResponse
        {
            Status = new RuntimeStatus { Conditions = { new RuntimeCondition { Type = RuntimeReady, Status = true }, network } },
        };
        if (request.Verbose)
        {
            var info = new JsonObject
            {
                ["socket"] = _options.SocketPath,
                ["cniConfigDirs"] = new JsonArray(_options.CniConfigDirs.Select(d => (JsonNode?)d).ToArray()),
                ["cniPluginDirs"] = new JsonArray(_options.CniPluginDirs.Select(d => (JsonNode?)d).ToArray()),
                ["cniConfig"] = cniSource,
                ["podCidr"] = PodCidr,
            };
            response.Info.Add("config", info.ToJsonString());
        }
        return Task.FromResult(response);
    }

    public Task<UpdateRuntimeConfigResponse> UpdateRuntimeConfig(UpdateRuntimeConfigRequest request, ServerCallContext context)
    {
        // The kubelet sends this once it knows the node's pod CIDR; an empty one means "no change", as in containerd.
        string cidr = request.RuntimeConfig?.NetworkConfig?.PodCidr ?? "";
        if (cidr.Length > 0)
        {
            foreach (string part in cidr.Split(','))
            {
                if (!System.Net.IPNetwork.TryParse(part.Trim(), out _))
                    throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument,
                        $"runtime_config.network_config.pod_cidr: \"{cidr}\" is not a CIDR"));
            }
            lock (_lock)
                _podCidr = cidr;
        }
        return Task.FromResult(new UpdateRuntimeConfigResponse());
    }

    public Task<RuntimeConfigResponse> RuntimeConfig(RuntimeConfigRequest request, ServerCallContext context) =>
        Task.FromResult(new RuntimeConfigResponse
        {
            Linux = new LinuxRuntimeConfiguration { CgroupDriver = CgroupDriver.Cgroupfs },
        });

    private bool PluginExists(string type) => _options.CniPluginDirs.Any(d => File.Exists(Path.Combine(d, type)));
}
