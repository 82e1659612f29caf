namespace Csrun.Cgroups;

public enum CgroupMode
{
    /// <summary>Only cgroup v1 hierarchies.</summary>
    V1,
    /// <summary>Only the cgroup v2 unified hierarchy.</summary>
    Unified,
    /// <summary>v1 controller hierarchies plus a cgroup2 mount (usually /sys/fs/cgroup/unified).</summary>
    Hybrid,
}

/// <summary>One mounted cgroup v1 hierarchy, e.g. /sys/fs/cgroup/cpu,cpuacct with controllers [cpu, cpuacct];
/// named hierarchies appear as "name=systemd".</summary>
public sealed class V1Hierarchy(string mountPoint, string root, string[] controllers)
{
    public string MountPoint { get; } = mountPoint;

    /// <summary>The cgroup the mount shows as its root ("/" unless mounted inside a cgroup namespace or bind).</summary>
    public string Root { get; } = root;

    public IReadOnlyList<string> Controllers { get; } = controllers;

    public bool Has(string controller) => Array.IndexOf(controllers, controller) >= 0;

    public override string ToString() => $"{MountPoint} [{string.Join(',', controllers)}]";
}

/// <summary>One cgroup or cgroup2 mount as mountinfo shows it; a hierarchy can be mounted more than once.</summary>
/// <param name="SuperOptions">The super options, which name a v1 hierarchy's controllers ("rw,cpu,cpuacct"); null for cgroup2.</param>
/// <param name="Root">The cgroup the mount shows as its root.</param>
public sealed record CgroupMount(string? SuperOptions, string Root, string MountPoint);

/// <summary>Which cgroup hierarchies the host has, read from /proc/self/mountinfo.</summary>
public sealed class CgroupLayout
{
    private static readonly string[] NonControllerOptions =
        ["rw", "ro", "noprefix", "clone_children", "xattr", "none", "cpuset_v2_mode", "favordynmods", "nsdelegate"];

    public CgroupMode Mode { get; }
    public IReadOnlyList<V1Hierarchy> V1Hierarchies { get; }

    /// <summary>Mount point of the cgroup2 filesystem, or null.</summary>
    public string? UnifiedMount { get; }

    /// <summary>Controllers in the unified root's cgroup.controllers (empty when there is no v2 mount).</summary>
    public IReadOnlyList<string> UnifiedControllers { get; }

    /// <summary>Every cgroup filesystem mount, in mountinfo order: what a container's "cgroup" mount mirrors.</summary>
    public IReadOnlyList<CgroupMount> Mounts { get; }

    private CgroupLayout(List<V1Hierarchy> v1, string? unified, string[] unifiedControllers, List<CgroupMount> mounts)
    {
        Mounts = mounts;
        V1Hierarchies = v1;
        UnifiedMount = unified;
        UnifiedControllers = unifiedControllers;
        if (unified is null && v1.Count == 0) throw new CgroupException("no cgroup filesystem is mounted (see /proc/self/mountinfo)");
        Mode = unified is null ? CgroupMode.V1 : v1.Count > 0 ? CgroupMode.Hybrid : CgroupMode.Unified;
    }

    private static CgroupLayout? s_host;

    /// <summary>The layout of this host, parsed once per process.</summary>
    public static CgroupLayout Host => s_host ??= Detect();

    /// <summary>Makes <see cref="Host"/> the layout in this mountinfo text, read earlier in this process, unless
    /// the layout was detected already.</summary>
    public static void UseMountinfo(string mountinfo) => s_host ??= Parse(mountinfo, null);

    public static CgroupLayout Detect()
    {
        string? text = CgroupFile.TryRead("/proc/self/mountinfo") ?? throw new CgroupException("cannot read /proc/self/mountinfo");
        return Parse(text, null);
    }

    /// <summary>Parses mountinfo text. unifiedControllers is the content of the unified root's
    /// cgroup.controllers; when null it is read from the mount itself.</summary>
    public static CgroupLayout Parse(string mountinfo, string? unifiedControllers)
    {
        var v1 = new List<V1Hierarchy>();
        var mounts = new List<CgroupMount>();
        string? unified = null;
        ReadOnlySpan<char> rest = mountinfo;
        while (!rest.IsEmpty)
        {
            int nl = rest.IndexOf('\n');
            ReadOnlySpan<char> line = nl < 0 ? rest : rest[..nl];
            rest = nl < 0 ? default : rest[(nl + 1)..];

            // "36 25 0:32 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu": fields before " - " are
            // positional (id, parent, dev, root, mount point, options, optional tags), after it fstype, source, super options.
            int sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0) continue;
            ReadOnlySpan<char> tail = line[(sep + 3)..];
            int sp = tail.IndexOf(' ');
            if (sp < 0) continue;
            ReadOnlySpan<char> fstype = tail[..sp];
            bool isV2 = fstype.SequenceEqual("cgroup2");
            if (!isV2 && !fstype.SequenceEqual("cgroup")) continue;

            ReadOnlySpan<char> head = line[..sep];
            ReadOnlySpan<char> root = default, mountPoint = default;
            for (int field = 0; field < 5; field++)
            {
                int s = head.IndexOf(' ');
                ReadOnlySpan<char> value = s < 0 ? head : head[..s];
                head = s < 0 ? default : head[(s + 1)..];
                if (field == 3) root = value;
                else if (field == 4) mountPoint = value;
            }
            if (mountPoint.IsEmpty) continue;

            if (isV2)
            {
                unified ??= Unescape(mountPoint);
                mounts.Add(new CgroupMount(null, Unescape(root), Unescape(mountPoint)));
                continue;
            }

            ReadOnlySpan<char> afterSource = tail[(sp + 1)..];
            int sp2 = afterSource.IndexOf(' ');
            if (sp2 < 0) continue;
            ReadOnlySpan<char> superOptions = afterSource[(sp2 + 1)..];
            mounts.Add(new CgroupMount(superOptions.ToString(), Unescape(root), Unescape(mountPoint)));
            string[] controllers = ParseControllers(superOptions);
            if (controllers.Length == 0 || IsKnown(v1, controllers)) continue;
            v1.Add(new V1Hierarchy(Unescape(mountPoint), root.ToString(), controllers));
        }

        string[] ctrls = [];
        if (unified is not null)
        {
            unifiedControllers ??= CgroupFile.TryRead(unified + "/cgroup.controllers") ?? "";
            ctrls = unifiedControllers.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        }
        return new CgroupLayout(v1, unified, ctrls, mounts);
    }

    private static string[] ParseControllers(ReadOnlySpan<char> superOptions)
    {
        var list = new List<string>(2);
        foreach (Range r in superOptions.Split(','))
        {
            ReadOnlySpan<char> o = superOptions[r];
            if (o.IsEmpty || o.StartsWith("release_agent=") || IsNonController(o)) continue;
            list.Add(o.ToString());
        }
        return list.ToArray();
    }

    private static bool IsNonController(ReadOnlySpan<char> option)
    {
        foreach (string n in NonControllerOptions)
        {
            if (option.SequenceEqual(n)) return true;
        }
        return false;
    }

    // The same hierarchy can be mounted twice (bind mounts); the first mount wins.
    private static bool IsKnown(List<V1Hierarchy> v1, string[] controllers)
    {
        foreach (var h in v1)
        {
            if (h.Has(controllers[0])) return true;
        }
        return false;
    }

    // mountinfo escapes space, tab, newline and backslash as \ooo.
    private static string Unescape(ReadOnlySpan<char> s)
    {
        if (s.IndexOf('\\') < 0) return s.ToString();
        var sb = new System.Text.StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && IsOctal(s[i + 1]) && IsOctal(s[i + 2]) && IsOctal(s[i + 3]))
            {
                sb.Append((char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0')));
                i += 3;
            }
            else
            {
                sb.Append(s[i]);
            }
        }
        return sb.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';

    /// <summary>The v1 hierarchy carrying controller (e.g. "memory", "name=systemd"), or null.</summary>
    public V1Hierarchy? FindV1(string controller)
    {
        foreach (var h in V1Hierarchies)
        {
            if (h.Has(controller)) return h;
        }
        return null;
    }

    public bool UnifiedHas(string controller)
    {
        foreach (var c in UnifiedControllers)
        {
            if (c == controller) return true;
        }
        return false;
    }
}
