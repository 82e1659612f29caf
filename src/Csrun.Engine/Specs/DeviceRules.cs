using Csrun.Oci;

namespace Csrun.Engine.Specs;

/// <summary>
/// The device cgroup rules a container gets: the spec's own rules, then the devices every container may use
/// (runc's allowed defaults), then an allow rule per device the spec creates. Later rules win.
/// </summary>
public static class DeviceRules
{
    private static LinuxDeviceCgroup Allow(string type, long? major, long? minor, string access) =>
        new() { Allow = true, Type = type, Major = major, Minor = minor, Access = access };

    private static readonly LinuxDeviceCgroup[] Defaults =
    [
        Allow("c", null, null, "m"), Allow("b", null, null, "m"),
        Allow("c", 1, 3, "rwm"), Allow("c", 1, 8, "rwm"), Allow("c", 1, 7, "rwm"), Allow("c", 5, 0, "rwm"),
        Allow("c", 1, 5, "rwm"), Allow("c", 1, 9, "rwm"),
        Allow("c", 136, null, "rwm"), Allow("c", 5, 2, "rwm"), // /dev/pts/*, /dev/ptmx
        Allow("c", 10, 200, "rwm"), // /dev/net/tun
    ];

    /// <summary>A copy of the spec's resources with the full device rule list (the spec itself is untouched).</summary>
    public static LinuxResources WithDefaults(Oci.Spec spec)
    {
        var src = spec.Linux?.Resources;
        var res = new LinuxResources
        {
            Memory = src?.Memory, Cpu = src?.Cpu, Pids = src?.Pids, BlockIO = src?.BlockIO,
            HugepageLimits = src?.HugepageLimits, Network = src?.Network, Rdma = src?.Rdma, Unified = src?.Unified,
            Devices = [],
        };
        if (src?.Devices is { } rules) res.Devices.AddRange(rules);
        else res.Devices.Add(new LinuxDeviceCgroup { Allow = false, Access = "rwm" });
        res.Devices.AddRange(Defaults);
        if (spec.Linux?.Devices is { } devices)
        {
            foreach (var d in devices)
            {
                string type = d.Type == "u" ? "c" : d.Type;
                if (type == "p") continue; // fifos are not governed by the device cgroup
                res.Devices.Add(Allow(type, d.Major, d.Minor, "rwm"));
            }
        }
        return res;
    }
}
