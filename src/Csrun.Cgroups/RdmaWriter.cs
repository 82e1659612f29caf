using System.Globalization;
using Csrun.Oci;

namespace Csrun.Cgroups;

/// <summary>linux.resources.rdma → rdma.max, the same file and syntax on v1 and v2.</summary>
internal static class RdmaWriter
{
    public static void Write(string dir, Dictionary<string, LinuxRdma> rdma)
    {
        foreach (var (device, limit) in rdma)
        {
            string field = $"linux.resources.rdma[{device}]";
            if (device.Length == 0 || device.AsSpan().IndexOfAny(" \n/") >= 0)
                throw new CgroupException($"{field}: invalid device name");
            if (limit.HcaHandles is null && limit.HcaObjects is null) continue;
            string line = device;
            if (limit.HcaHandles is uint h) line += string.Create(CultureInfo.InvariantCulture, $" hca_handle={h}");
            if (limit.HcaObjects is uint o) line += string.Create(CultureInfo.InvariantCulture, $" hca_object={o}");
            CgroupFile.Write(dir, "rdma.max", line, field);
        }
    }
}
