namespace Csrun.Cgroups;

/// <summary>The state the cgroup v1 devices controller reaches after a list of rules: a default policy plus
/// exceptions keyed by exact (type, major, minor). Both the v1 writer (for validation) and the v2 eBPF
/// generator use it, so a spec means the same on both versions — the approach runc takes.</summary>
public sealed class DeviceRuleSet
{
    public bool DefaultAllow { get; private set; }

    private readonly List<DeviceRule> _exceptions = [];

    /// <summary>Exceptions to the default: allowed devices when DefaultAllow is false, denied ones otherwise.</summary>
    public IReadOnlyList<DeviceRule> Exceptions => _exceptions;

    public static DeviceRuleSet From(IReadOnlyList<DeviceRule> rules)
    {
        var set = new DeviceRuleSet();
        for (int i = 0; i < rules.Count; i++) set.Apply(rules[i], i);
        return set;
    }

    private void Apply(DeviceRule rule, int index)
    {
        // As in the kernel, any "a" rule switches the default and forgets every exception.
        if (rule.Type == 'a')
        {
            DefaultAllow = rule.Allow;
            _exceptions.Clear();
            return;
        }
        if (rule.Allow != DefaultAllow) Add(rule);
        else Remove(rule, index);
    }

    private void Add(DeviceRule rule)
    {
        int i = Find(rule.Type, rule.Major, rule.Minor);
        if (i < 0) _exceptions.Add(rule with { Allow = !DefaultAllow });
        else _exceptions[i] = _exceptions[i] with { Access = _exceptions[i].Access | rule.Access };
    }

    private void Remove(DeviceRule rule, int index)
    {
        // v1 removes only the exactly matching exception and silently keeps wildcard ones, so a rule that tries
        // to punch a hole into a wildcard exception would not do what it says: refuse it.
        ReadOnlySpan<(long Major, long Minor)> partial =
            [(DeviceRule.Any, rule.Minor), (rule.Major, DeviceRule.Any), (DeviceRule.Any, DeviceRule.Any)];
        foreach (var (maj, min) in partial)
        {
            if (maj == rule.Major && min == rule.Minor) continue;
            int w = Find(rule.Type, maj, min);
            if (w >= 0 && (_exceptions[w].Access & rule.Access) != 0)
                throw new CgroupException($"linux.resources.devices[{index}]: rule \"{rule}\" cannot take access away from the broader rule \"{_exceptions[w]}\" given earlier");
        }
        int i = Find(rule.Type, rule.Major, rule.Minor);
        if (i < 0) return;
        DeviceAccess left = _exceptions[i].Access & ~rule.Access;
        if (left == 0) _exceptions.RemoveAt(i);
        else _exceptions[i] = _exceptions[i] with { Access = left };
    }

    private int Find(char type, long major, long minor)
    {
        for (int i = 0; i < _exceptions.Count; i++)
        {
            var e = _exceptions[i];
            if (e.Type == type && e.Major == major && e.Minor == minor) return i;
        }
        return -1;
    }

    /// <summary>Whether an access would be allowed, with the kernel's v1 matching: in allow-list mode one
    /// exception must grant every requested bit; in deny-list mode any overlapping exception denies.</summary>
    public bool IsAllowed(char type, uint major, uint minor, DeviceAccess access)
    {
        foreach (var e in _exceptions)
        {
            if (e.Type != type || (e.Major != DeviceRule.Any && e.Major != major) || (e.Minor != DeviceRule.Any && e.Minor != minor)) continue;
            if (DefaultAllow ? (access & e.Access) != 0 : (access & ~e.Access) == 0) return !DefaultAllow;
        }
        return DefaultAllow;
    }
}
