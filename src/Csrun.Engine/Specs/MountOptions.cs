using Csrun.Linux;
using static Csrun.Linux.MountFlags;

namespace Csrun.Engine.Specs;

/// <summary>One parsed mount: flags, propagation, the recursive attributes (mount_setattr) and the leftover fs data,
/// as runc interprets the options.</summary>
public readonly record struct ParsedMount(ulong Flags, ulong ClearFlags, ulong Propagation, string? Data, bool IsBind,
    ulong RecAttrSet = 0, ulong RecAttrClr = 0, bool CopyUp = false);

/// <summary>The single place that turns OCI mount options into mount(2) arguments.</summary>
public static class MountOptions
{
    // (name, clear?, flag): "ro" sets MS_RDONLY, "rw" clears it, and so on, as mount(8) and runc read them.
    private static readonly Dictionary<string, (bool Clear, ulong Flag)> Flags = new(StringComparer.Ordinal)
    {
        ["acl"] = (false, MS_POSIXACL), ["noacl"] = (true, MS_POSIXACL),
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

    // OCI 1.1's recursive options: MOUNT_ATTR_* for mount_setattr(2) with AT_RECURSIVE, over the mount and every
    // mount below it (a plain "ro" on an rbind leaves the submounts writable).

    private static readonly Dictionary<string, (bool Clear, ulong Attr)> RecursiveAttrs = new(StringComparer.Ordinal)
    {
        ["rro"] = (false, MOUNT_ATTR_RDONLY), ["rrw"] = (true, MOUNT_ATTR_RDONLY),
        ["rnosuid"] = (false, MOUNT_ATTR_NOSUID), ["rsuid"] = (true, MOUNT_ATTR_NOSUID),
        ["rnodev"] = (false, MOUNT_ATTR_NODEV), ["rdev"] = (true, MOUNT_ATTR_NODEV),
        ["rnoexec"] = (false, MOUNT_ATTR_NOEXEC), ["rexec"] = (true, MOUNT_ATTR_NOEXEC),
        ["rnodiratime"] = (false, MOUNT_ATTR_NODIRATIME), ["rdiratime"] = (true, MOUNT_ATTR_NODIRATIME),
        ["rrelatime"] = (false, MOUNT_ATTR_RELATIME), ["rnorelatime"] = (true, MOUNT_ATTR_RELATIME),
        ["rnoatime"] = (false, MOUNT_ATTR_NOATIME), ["ratime"] = (true, MOUNT_ATTR_NOATIME),
        ["rstrictatime"] = (false, MOUNT_ATTR_STRICTATIME), ["rnostrictatime"] = (true, MOUNT_ATTR_STRICTATIME),
        ["rnosymfollow"] = (false, MOUNT_ATTR_NOSYMFOLLOW), ["rsymfollow"] = (true, MOUNT_ATTR_NOSYMFOLLOW),
    };

    /// <summary>Options that need kernel features csrun does not implement yet; refused rather than passed as fs data.</summary>
    private static readonly HashSet<string> Unsupported = new(StringComparer.Ordinal) { "idmap", "ridmap" };

    // runc's extension: a tmpfs that starts with a copy of what its destination held in the image.
    private const string TmpCopyUp = "tmpcopyup";

    public static IEnumerable<string> Known => Flags.Keys.Concat(Propagations.Keys).Concat(RecursiveAttrs.Keys).Append(TmpCopyUp);

    /// <summary>Parses options; <paramref name="error"/> names the offending option when it returns false.</summary>
    public static bool TryParse(string? type, IReadOnlyList<string>? options, out ParsedMount parsed, out string? error)
    {
        ulong flags = 0, clear = 0, propagation = 0, recSet = 0, recClr = 0;
        bool copyUp = false;
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
                else if (RecursiveAttrs.TryGetValue(o, out var ra))
                {
                    // As runc: an access-time setting must also clear the whole atime field (mount_setattr(2)).
                    if (ra.Clear) recClr |= ra.Attr;
                    else
                    {
                        recSet |= ra.Attr;
                        if ((ra.Attr & MOUNT_ATTR__ATIME) == ra.Attr) recClr |= MOUNT_ATTR__ATIME;
                    }
                }
                else if (o == TmpCopyUp)
                {
                    copyUp = true;
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
        if (copyUp && (bind || type != "tmpfs"))
        {
            parsed = default;
            error = "mount option \"tmpcopyup\" is only for tmpfs";
            return false;
        }
        parsed = new ParsedMount(flags, clear, propagation, data is null ? null : string.Join(',', data), bind, recSet, recClr, copyUp);
        return true;
    }

    public static bool TryParsePropagation(string? value, out ulong propagation)
    {
        propagation = 0;
        return string.IsNullOrEmpty(value) || Propagations.TryGetValue(value, out propagation);
    }
}
