using System.Text.Json.Serialization;
using Csrun.Oci;

namespace Csrun.Engine.State;

/// <summary>What csrun keeps about a container in ROOT/ID/state.json between commands.</summary>
public sealed class ContainerRecord
{
    public string Id { get; set; } = "";
    public string Bundle { get; set; } = "";
    public string Rootfs { get; set; } = "";
    public int Pid { get; set; }
    /// <summary>Field 22 of /proc/PID/stat when the container started: tells our init from a recycled pid.</summary>
    public ulong PidStartTime { get; set; }
    public string Created { get; set; } = "";
    public string CgroupPath { get; set; } = "";
    /// <summary>True when the container has its own pid namespace: killing init then kills everything in it.</summary>
    public bool PrivatePidNamespace { get; set; }
    public string Owner { get; set; } = "";
    public Dictionary<string, string>? Annotations { get; set; }
    public List<Hook>? Poststart { get; set; }
    public List<Hook>? Poststop { get; set; }
}

/// <summary>`csrun state` output and one element of `list --format json`: runc's shape, field for field.</summary>
public sealed class RuncState
{
    public string OciVersion { get; set; } = "1.1.0";
    public string Id { get; set; } = "";
    public int Pid { get; set; }
    public string Status { get; set; } = "";
    public string Bundle { get; set; } = "";
    public string Rootfs { get; set; } = "";
    public string Created { get; set; } = "";
    public string Owner { get; set; } = "";
    public Dictionary<string, string>? Annotations { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContainerRecord))]
[JsonSerializable(typeof(RuncState))]
[JsonSerializable(typeof(List<RuncState>))]
[JsonSerializable(typeof(ContainerState))]
internal sealed partial class EngineJsonContext : JsonSerializerContext;
