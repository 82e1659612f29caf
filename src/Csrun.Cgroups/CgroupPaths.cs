namespace Csrun.Cgroups;

/// <summary>Turns linux.cgroupsPath into the cgroup path csrun manages, relative to each hierarchy's root.</summary>
public static class CgroupPaths
{
    public const string Prefix = "/csrun";

    /// <summary>null/empty → "/csrun/&lt;id&gt;"; relative "a/b" → "/csrun/a/b"; absolute → as given.
    /// systemd=true ("slice:prefix:name") needs the systemd driver, which csrun does not provide.</summary>
    public static string Resolve(string? cgroupsPath, string containerId, bool systemd) =>
        Resolve(cgroupsPath, containerId, systemd, "/run/systemd/system");

    internal static string Resolve(string? cgroupsPath, string containerId, bool systemd, string systemdRunDir)
    {
        if (systemd)
        {
            if (!string.IsNullOrEmpty(cgroupsPath) && cgroupsPath.Split(':').Length != 3)
                throw new CgroupException($"linux.cgroupsPath: \"{cgroupsPath}\" is not in the systemd form slice:prefix:name");
            if (!Directory.Exists(systemdRunDir))
                throw new CgroupException("systemd cgroup driver is not available on this host: systemd is not running (" + systemdRunDir + " does not exist)");
            throw new CgroupException("systemd cgroup driver is not supported by csrun; use the cgroupfs driver");
        }

        string path;
        if (string.IsNullOrEmpty(cgroupsPath))
        {
            if (string.IsNullOrEmpty(containerId) || containerId.Contains('/'))
                throw new CgroupException($"invalid container id for a cgroup name: \"{containerId}\"");
            path = Prefix + "/" + containerId;
        }
        else
        {
            path = cgroupsPath[0] == '/' ? cgroupsPath : Prefix + "/" + cgroupsPath;
        }
        return Clean(path, cgroupsPath);
    }

    // Collapses "//" and "." and trailing "/"; refuses ".." so a spec cannot reach outside its hierarchy,
    // and refuses the root, which csrun must never manage or remove.
    private static string Clean(string path, string? original)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var kept = new List<string>(parts.Length);
        foreach (var p in parts)
        {
            if (p == ".") continue;
            if (p == "..") throw new CgroupException($"linux.cgroupsPath: \"{original}\" must not contain \"..\"");
            kept.Add(p);
        }
        if (kept.Count == 0) throw new CgroupException($"linux.cgroupsPath: \"{original}\" names the root cgroup");
        return "/" + string.Join('/', kept);
    }

    /// <summary>True when path lies strictly below /csrun, i.e. its parents up to /csrun are ours to remove.</summary>
    internal static bool IsUnderPrefix(string path) =>
        path.Length > Prefix.Length + 1 && path.StartsWith(Prefix + "/", StringComparison.Ordinal);
}
