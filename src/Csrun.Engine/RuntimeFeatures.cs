using Csrun.Cgroups;
using Csrun.Engine.Specs;
using Csrun.Oci;

namespace Csrun.Engine;

/// <summary>What this build of csrun implements, as the runtime-spec features document describes it.</summary>
public static class RuntimeFeatures
{
    public const string Version = "0.1.0";

    public static Features Get()
    {
        bool v1 = false, v2 = false;
        try
        {
            var layout = CgroupLayout.Host;
            v1 = layout.V1Hierarchies.Count > 0;
            v2 = layout.UnifiedMount is not null;
        }
        catch (Exception e) when (e is CgroupException or IOException)
        {
        }
        return new Features
        {
            OciVersionMin = "1.0.0",
            OciVersionMax = "1.1.0",
            Hooks = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
            MountOptions = [.. MountOptions.Known.Order(StringComparer.Ordinal)],
            Linux = new FeaturesLinux
            {
                Namespaces = ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
                Capabilities = [.. Csrun.Linux.Capabilities.Names],
                Cgroup = new FeaturesCgroup { V1 = v1, V2 = v2, Systemd = false, SystemdUser = false, Rdma = false },
                Seccomp = new FeaturesSeccomp
                {
                    Enabled = File.Exists("/proc/self/status") && File.ReadAllText("/proc/self/status").Contains("Seccomp:"),
                    Actions = [.. Security.SeccompCompiler.Actions],
                    Operators = [.. Security.SeccompCompiler.Operators.Order(StringComparer.Ordinal)],
                    Archs = ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
                    KnownFlags = [.. Security.SeccompCompiler.KnownFlags],
                    SupportedFlags = [.. Security.SeccompCompiler.KnownFlags],
                },
                Apparmor = new FeaturesApparmor { Enabled = false },
                Selinux = new FeaturesSelinux { Enabled = false },
                IntelRdt = new FeaturesIntelRdt { Enabled = Directory.Exists("/sys/fs/resctrl/info") },
                MountExtensions = new FeaturesMountExtensions { Idmap = new FeaturesIdmap { Enabled = false } },
            },
            Annotations = new Dictionary<string, string> { ["org.csrun.version"] = Version },
        };
    }
}
