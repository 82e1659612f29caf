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
        // The field's name only for an error: on the start path a rule is valid and no string is made.
        string Field() => $"linux.resources.devices[{index}]";
        char type = d.Type switch
        {
            null or "" or "a" => 'a',
            "c" => 'c',
            "b" => 'b',
            _ => throw new CgroupException($"{Field()}.type: invalid device type \"{d.Type}\" (want a, b or c)"),
        };
        long major = d.Major ?? Any, minor = d.Minor ?? Any;
        if (major < Any || major > uint.MaxValue) throw new CgroupException($"{Field()}.major: invalid value {major}");
        if (minor < Any || minor > uint.MaxValue) throw new CgroupException($"{Field()}.minor: invalid value {minor}");
        DeviceAccess access = 0;
        // An omitted access means everything, as crun and runc's tooling treat it.
        foreach (char c in string.IsNullOrEmpty(d.Access) ? "rwm" : d.Access)
        {
            access |= c switch
            {
                'r' => DeviceAccess.Read,
                'w' => DeviceAccess.Write,
                'm' => DeviceAccess.Mknod,
                _ => throw new CgroupException($"{Field()}.access: invalid access \"{d.Access}\" (want a combination of r, w, m)"),
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
        Span<byte> line = stackalloc byte[MaxLineLength];
        return System.Text.Encoding.ASCII.GetString(line[..Format(line)]);
    }

    /// <summary>The longest line <see cref="Format"/> writes: two 10-digit numbers and the rest.</summary>
    public const int MaxLineLength = 32;

    /// <summary>Writes the v1 line into <paramref name="line"/> (at least <see cref="MaxLineLength"/> bytes) and
    /// returns its length: no string, no pooled buffer (it runs on the cgroup thread of every start).</summary>
    public int Format(Span<byte> line)
    {
        int n = 0;
        line[n++] = (byte)Type;
        line[n++] = (byte)' ';
        n += FormatNumber(Major, line[n..]);
        line[n++] = (byte)':';
        n += FormatNumber(Minor, line[n..]);
        line[n++] = (byte)' ';
        if ((Access & DeviceAccess.Read) != 0) line[n++] = (byte)'r';
        if ((Access & DeviceAccess.Write) != 0) line[n++] = (byte)'w';
        if ((Access & DeviceAccess.Mknod) != 0) line[n++] = (byte)'m';
        return n;
    }

    private static int FormatNumber(long value, Span<byte> dest)
    {
        if (value == Any)
        {
            dest[0] = (byte)'*';
            return 1;
        }
        value.TryFormat(dest, out int n, default, CultureInfo.InvariantCulture);
        return n;
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
