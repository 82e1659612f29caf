// TEMPORARY: replaced by the real implementation when the cgroups branch merges.
using Csrun.Oci;
namespace Csrun.Cgroups;
public sealed class CgroupLayout { public static CgroupLayout Detect() => new(); public bool HasV1 => true; public bool HasV2 => true; }
public static class CgroupPaths { public static string Resolve(string? p, string id, bool systemd) => p is null or "" ? "/csrun/" + id : p.StartsWith('/') ? p : "/csrun/" + p; }
public static class CgroupManager { public static ICgroupManager Create(CgroupLayout layout, string path) => throw new NotImplementedException(); }
