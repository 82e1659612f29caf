using System.Globalization;
using Csrun.Oci;

namespace Csrun.Cgroups;

/// <summary>A validated linux.resources.devices entry. Major/Minor -1 stand for "*".</summary>
public readonly record struct DeviceRule(bool Allow, char Type, long Major, long Minor, DeviceAccess Access)
{
    public const long Any = -1;

    /// <summary>Matches every device of every type: in v1 terms the "a" rule that resets the list.</summary>
    public bool IsWildcard => Type == 'a' && Major == Any && Minor == Any;

    /// <summary>A v1 deny of type "a": the kernel reads only the type and resets the list to deny-all.</summary>
    public bool DeniesAll => !Allow && Type == 'a';

    public static DeviceRule From(LinuxDeviceCgroup d, int index)
    {
        string field = $"linux.resources.devices[{index}]";
        char type = d.Type switch
        {
            null or "" or "a" => 'a',
            "c" => 'c',
            "b" => 'b',
            _ => throw new CgroupException($"{field}.type: invalid device type \"{d.Type}\" (want a, b or c)"),
        };
        long major = d.Major ?? Any, minor = d.Minor ?? Any;
        if (major < Any || major > uint.MaxValue) throw new CgroupException($"{field}.major: invalid value {major}");
        if (minor < Any || minor > uint.MaxValue) throw new CgroupException($"{field}.minor: invalid value {minor}");
        DeviceAccess access = 0;
        // An omitted access means everything, as crun and runc's tooling treat it.
        foreach (char c in string.IsNullOrEmpty(d.Access) ? "rwm" : d.Access)
        {
            access |= c switch
            {
                'r' => DeviceAccess.Read,
                'w' => DeviceAccess.Write,
                'm' => DeviceAccess.Mknod,
                _ => throw new CgroupException($"{field}.access: invalid access \"{d.Access}\" (want a combination of r, w, m)"),
            };
        }
        return new DeviceRule(d.Allow, type, major, minor, access);
    }

    public static DeviceRule[] FromSpec(List<LinuxDeviceCgroup> devices)
    {
        var rules = new DeviceRule[devices.Count];
        for (int i = 0; i < rules.Length; i++) rules[i] = From(devices[i], i);
        return rules;
    }

    /// <summary>The line the v1 devices.allow / devices.deny files take: "c 1:3 rwm", "a *:* rwm".</summary>
    public override string ToString()
    {
        string maj = Major == Any ? "*" : Major.ToString(CultureInfo.InvariantCulture);
        string min = Minor == Any ? "*" : Minor.ToString(CultureInfo.InvariantCulture);
        Span<char> acc = stackalloc char[3];
        int n = 0;
        if ((Access & DeviceAccess.Read) != 0) acc[n++] = 'r';
        if ((Access & DeviceAccess.Write) != 0) acc[n++] = 'w';
        if ((Access & DeviceAccess.Mknod) != 0) acc[n++] = 'm';
        return $"{Type} {maj}:{min} {acc[..n]}";
    }
}

/// <summary>Access bits with the values of the kernel's BPF_DEVCG_ACC_*.</summary>
[Flags]
public enum DeviceAccess : byte
{
    Mknod = 1,
    Read = 2,
    Write = 4,
    All = Mknod | Read | Write,
}
