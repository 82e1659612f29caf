using Csrun.Linux;
using static Csrun.Linux.MountFlags;

namespace Csrun.Engine.Specs;

/// <summary>One parsed mount: flags, propagation and the leftover fs data, as runc interprets the options.</summary>
public readonly record struct ParsedMount(ulong Flags, ulong ClearFlags, ulong Propagation, string? Data, bool IsBind);

/// <summary>The single place that turns OCI mount options into mount(2) arguments.</summary>
public static class MountOptions
{
    // (name, clear?, flag): "ro" sets MS_RDONLY, "rw" clears it, and so on, as mount(8) and runc read them.
    private static readonly Dictionary<string, (bool Clear, ulong Flag)> Flags = new(StringComparer.Ordinal)
    {
        ["async"] = (true, MS_SYNCHRONOUS), ["atime"] = (true, MS_NOATIME), ["bind"] = (false, MS_BIND),
        ["defaults"] = (false, 0), ["dev"] = (true, MS_NODEV), ["diratime"] = (true, MS_NODIRATIME),
        ["dirsync"] = (false, MS_DIRSYNC), ["exec"] = (true, MS_NOEXEC), ["iversion"] = (false, MS_I_VERSION),
        ["lazytime"] = (false, MS_LAZYTIME), ["loud"] = (true, MS_SILENT), ["mand"] = (false, MS_MANDLOCK),
        ["noatime"] = (false, MS_NOATIME), ["nodev"] = (false, MS_NODEV), ["nodiratime"] = (false, MS_NODIRATIME),
        ["noexec"] = (false, MS_NOEXEC), ["noiversion"] = (true, MS_I_VERSION), ["nolazytime"] = (true, MS_LAZYTIME),
        ["nomand"] = (true, MS_MANDLOCK), ["norelatime"] = (true, MS_RELATIME), ["nostrictatime"] = (true, MS_STRICTATIME),
        ["nosuid"] = (false, MS_NOSUID), ["nosymfollow"] = (false, MS_NOSYMFOLLOW), ["rbind"] = (false, MS_BIND | MS_REC),
        ["relatime"] = (false, MS_RELATIME), ["remount"] = (false, MS_REMOUNT), ["ro"] = (false, MS_RDONLY),
        ["rw"] = (true, MS_RDONLY), ["silent"] = (false, MS_SILENT), ["strictatime"] = (false, MS_STRICTATIME),
        ["suid"] = (true, MS_NOSUID), ["symfollow"] = (true, MS_NOSYMFOLLOW), ["sync"] = (false, MS_SYNCHRONOUS),
    };

    private static readonly Dictionary<string, ulong> Propagations = new(StringComparer.Ordinal)
    {
        ["private"] = MS_PRIVATE, ["rprivate"] = MS_PRIVATE | MS_REC,
        ["shared"] = MS_SHARED, ["rshared"] = MS_SHARED | MS_REC,
        ["slave"] = MS_SLAVE, ["rslave"] = MS_SLAVE | MS_REC,
        ["unbindable"] = MS_UNBINDABLE, ["runbindable"] = MS_UNBINDABLE | MS_REC,
    };

    /// <summary>Options that need kernel features csrun does not implement yet; refused rather than passed as fs data.</summary>
    private static readonly HashSet<string> Unsupported = new(StringComparer.Ordinal)
    {
        "idmap", "ridmap", "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime",
        "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime", "rnostrictatime",
        "rnosymfollow", "rsymfollow",
    };

    public static IEnumerable<string> Known => Flags.Keys.Concat(Propagations.Keys);

    /// <summary>Parses options; <paramref name="error"/> names the offending option when it returns false.</summary>
    public static bool TryParse(string? type, IReadOnlyList<string>? options, out ParsedMount parsed, out string? error)
    {
        ulong flags = 0, clear = 0, propagation = 0;
        List<string>? data = null;
        error = null;
        if (options is not null)
        {
            foreach (string o in options)
            {
                if (Flags.TryGetValue(o, out var f))
                {
                    if (f.Clear) { flags &= ~f.Flag; clear |= f.Flag; }
                    else { flags |= f.Flag; clear &= ~f.Flag; }
                }
                else if (Propagations.TryGetValue(o, out ulong p))
                {
                    propagation = p;
                }
                else if (Unsupported.Contains(o))
                {
                    parsed = default;
                    error = $"mount option \"{o}\" is not supported";
                    return false;
                }
                else
                {
                    (data ??= []).Add(o);
                }
            }
        }
        bool bind = type == "bind" || (flags & MS_BIND) != 0;
        if (bind) flags |= MS_BIND;
        parsed = new ParsedMount(flags, clear, propagation, data is null ? null : string.Join(',', data), bind);
        return true;
    }

    public static bool TryParsePropagation(string? value, out ulong propagation)
    {
        propagation = 0;
        return string.IsNullOrEmpty(value) || Propagations.TryGetValue(value, out propagation);
    }
}
