using Csrun.Cgroups;
using Csrun.Cgroups.V2;
using Csrun.Oci;

namespace Csrun.Cgroups.Tests;

public class ConversionTests
{
    [Theory]
    [InlineData(0UL, 0UL)]
    [InlineData(2UL, 1UL)]
    [InlineData(1024UL, 39UL)]
    [InlineData(512UL, 20UL)]
    [InlineData(262144UL, 10000UL)]
    [InlineData(1000000UL, 10000UL)]
    public void SharesToWeight(ulong shares, ulong weight) => Assert.Equal(weight, CgroupV2Manager.SharesToWeight(shares));

    [Theory]
    [InlineData(0L, 100L, 0L)]
    [InlineData(0L, -1L, -1L)]
    [InlineData(-1L, 100L, -1L)]
    [InlineData(300L, 100L, 200L)]
    [InlineData(100L, 100L, 0L)]
    public void SwapToV2(long swap, long limit, long expected) => Assert.Equal(expected, CgroupV2Manager.SwapToV2(swap, limit));

    [Fact]
    public void SwapBelowLimitIsRefused() => Assert.Throws<CgroupException>(() => CgroupV2Manager.SwapToV2(50, 100));

    [Fact]
    public void BlkioWeightToIoWeight()
    {
        Assert.Equal(1UL, CgroupV2Manager.BlkioWeightToIoWeight(10));
        Assert.Equal(10000UL, CgroupV2Manager.BlkioWeightToIoWeight(1000));
    }

    [Theory]
    [InlineData(true, "c", 1L, 3L, "rwm", "c 1:3 rwm")]
    [InlineData(false, null, null, null, "rwm", "a *:* rwm")]
    [InlineData(true, "b", 8L, null, "r", "b 8:* r")]
    [InlineData(true, "c", null, null, "m", "c *:* m")]
    [InlineData(true, "c", 136L, null, null, "c 136:* rwm")]
    [InlineData(true, "b", 4294967295L, 4294967295L, "rwm", "b 4294967295:4294967295 rwm")]
    public void RendersV1Rules(bool allow, string? type, long? major, long? minor, string? access, string text)
    {
        var rule = DeviceRule.From(new LinuxDeviceCgroup { Allow = allow, Type = type, Major = major, Minor = minor, Access = access }, 0);
        Assert.Equal(text, rule.ToString());
    }

    [Fact]
    public void BadRulesNameTheirField()
    {
        var e = Assert.Throws<CgroupException>(() => DeviceRule.From(new LinuxDeviceCgroup { Type = "x" }, 2));
        Assert.Contains("linux.resources.devices[2].type", e.Message);
        e = Assert.Throws<CgroupException>(() => DeviceRule.From(new LinuxDeviceCgroup { Type = "c", Access = "rwx" }, 0));
        Assert.Contains("access", e.Message);
    }

    private static DeviceRuleSet Set(params LinuxDeviceCgroup[] rules) => DeviceRuleSet.From(DeviceRule.FromSpec([.. rules]));

    private static LinuxDeviceCgroup R(bool allow, string? type = null, long? major = null, long? minor = null, string access = "rwm") =>
        new() { Allow = allow, Type = type, Major = major, Minor = minor, Access = access };

    [Fact]
    public void RuleSetAllowListSemantics()
    {
        var s = Set(R(false), R(true, "c", 1, 3), R(true, "c", null, null, "m"), R(true, "c", 5, 0, "r"), R(true, "c", 5, 0, "w"));
        Assert.False(s.DefaultAllow);
        Assert.True(s.IsAllowed('c', 1, 3, DeviceAccess.Read | DeviceAccess.Write));
        Assert.False(s.IsAllowed('b', 1, 3, DeviceAccess.Read));
        Assert.True(s.IsAllowed('c', 99, 1, DeviceAccess.Mknod));
        Assert.False(s.IsAllowed('c', 99, 1, DeviceAccess.Read));
        Assert.True(s.IsAllowed('c', 5, 0, DeviceAccess.Read | DeviceAccess.Write));  // merged r + w
    }

    [Fact]
    public void RuleSetDenyListAndResets()
    {
        var s = Set(R(false), R(true, "c", 1, 3), R(true), R(false, "c", 1, 3, "w"));
        Assert.True(s.DefaultAllow);
        Assert.Single(s.Exceptions);
        Assert.True(s.IsAllowed('c', 1, 3, DeviceAccess.Read));
        Assert.False(s.IsAllowed('c', 1, 3, DeviceAccess.Read | DeviceAccess.Write));
        Assert.True(s.IsAllowed('b', 8, 0, DeviceAccess.All));
    }

    [Fact]
    public void RuleSetRemovesExactAndRefusesHolesInWildcards()
    {
        var s = Set(R(false), R(true, "c", 1, 3), R(false, "c", 1, 3, "w"));
        Assert.True(s.IsAllowed('c', 1, 3, DeviceAccess.Read));
        Assert.False(s.IsAllowed('c', 1, 3, DeviceAccess.Write));
        var e = Assert.Throws<CgroupException>(() => Set(R(false), R(true, "c"), R(false, "c", 1, 3)));
        Assert.Contains("linux.resources.devices[2]", e.Message);
    }

    [Fact]
    public void FilterProgramShape()
    {
        var insns = DeviceFilter.Build(Set(R(false), R(true, "c", 1, 3), R(true, "c", null, null, "m")));
        // 6 prologue + (jne type, jne major, jne minor, mov, exit) + (jne type, mov/and/jne access, mov, exit) + default mov, exit
        Assert.Equal(6 + 5 + 6 + 2, insns.Length);
        Assert.Equal(0x95UL, insns[^1] & 0xff);
        // The default (deny) returns 0.
        Assert.Equal(0UL, insns[^2] >> 32);
        // The first block's jumps land right after its exit.
        Assert.Equal(4, (short)(ushort)(insns[6] >> 16));
    }
}
