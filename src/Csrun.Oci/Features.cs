using System.Text.Json.Serialization;

namespace Csrun.Oci;

// The runtime features document (runtime-spec features.md), printed by `csrun features`.

public sealed class Features
{
    public string OciVersionMin { get; set; } = "1.0.0";
    public string OciVersionMax { get; set; } = "1.1.0";
    public List<string>? Hooks { get; set; }
    public List<string>? MountOptions { get; set; }
    public FeaturesLinux? Linux { get; set; }
    public Dictionary<string, string>? Annotations { get; set; }
    public List<string>? PotentiallyUnsafeConfigAnnotations { get; set; }
}

public sealed class FeaturesLinux
{
    public List<string>? Namespaces { get; set; }
    public List<string>? Capabilities { get; set; }
    public FeaturesCgroup? Cgroup { get; set; }
    public FeaturesSeccomp? Seccomp { get; set; }
    public FeaturesApparmor? Apparmor { get; set; }
    public FeaturesSelinux? Selinux { get; set; }
    public FeaturesIntelRdt? IntelRdt { get; set; }
    public FeaturesMountExtensions? MountExtensions { get; set; }
}

public sealed class FeaturesCgroup
{
    public bool V1 { get; set; }
    public bool V2 { get; set; }
    public bool Systemd { get; set; }
    public bool SystemdUser { get; set; }
    public bool Rdma { get; set; }
}

public sealed class FeaturesSeccomp
{
    public bool Enabled { get; set; }
    public List<string>? Actions { get; set; }
    public List<string>? Operators { get; set; }
    public List<string>? Archs { get; set; }
    public List<string>? KnownFlags { get; set; }
    public List<string>? SupportedFlags { get; set; }
}

public sealed class FeaturesApparmor { public bool Enabled { get; set; } }
public sealed class FeaturesSelinux { public bool Enabled { get; set; } }
public sealed class FeaturesIntelRdt { public bool Enabled { get; set; } }

public sealed class FeaturesMountExtensions
{
    [JsonPropertyName("idmap")]
    public FeaturesIdmap? Idmap { get; set; }
}

public sealed class FeaturesIdmap { public bool Enabled { get; set; } }
