using System.Text.Json.Nodes;

namespace Csrun.Cni;

/// <summary>One container's attachment to a network: what becomes CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME and CNI_ARGS,
/// and the capability arguments passed to plugins that declare them.</summary>
public sealed record CniAttachment(string ContainerId, string NetnsPath, string IfName = "eth0")
{
    /// <summary>CNI_ARGS pairs; a kubelet pod sets K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Args { get; init; } = [];

    /// <summary>The "portMappings" capability (the portmap plugin's hostPort forwarding).</summary>
    public IReadOnlyList<CniPortMapping> PortMappings { get; init; } = [];

    /// <summary>Other capabilities by name (bandwidth, ipRanges, dns, ...), passed as given.</summary>
    public IReadOnlyDictionary<string, JsonNode> Capabilities { get; init; } = new Dictionary<string, JsonNode>();

    public static IReadOnlyList<KeyValuePair<string, string>> PodArgs(string podNamespace, string podName, string sandboxId, string podUid) =>
    [
        new("IgnoreUnknown", "1"),
        new("K8S_POD_NAMESPACE", podNamespace),
        new("K8S_POD_NAME", podName),
        new("K8S_POD_INFRA_CONTAINER_ID", sandboxId),
        new("K8S_POD_UID", podUid),
    ];
}

/// <summary>One entry of the portMappings capability, in the portmap plugin's field names.</summary>
public sealed record CniPortMapping(int HostPort, int ContainerPort, string Protocol = "tcp", string? HostIp = null)
{
    internal JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["hostPort"] = HostPort,
            ["containerPort"] = ContainerPort,
            ["protocol"] = Protocol,
        };
        if (!string.IsNullOrEmpty(HostIp))
            o["hostIP"] = HostIp;
        return o;
    }
}
