using System.Text;
using System.Text.Json;
using Csrun.Engine.Specs;
using Csrun.Oci;
using OciLinux = Csrun.Oci.Linux;
using OciProcess = Csrun.Oci.Process;

namespace Csrun.Tests;

/// <summary>SpecReader must build exactly the object graph STJ (SpecJsonContext) builds, and name the field it fails on.</summary>
public class SpecReaderTests
{
    private static string Stj(Spec spec) => JsonSerializer.Serialize(spec, SpecJsonContext.Default.Spec);

    private static Spec StjParse(string json) => JsonSerializer.Deserialize(json, SpecJsonContext.Default.Spec)!;

    private static Spec Parse(string json) => SpecReader.Parse(Encoding.UTF8.GetBytes(json));

    /// <summary>Serialize, read back both ways, re-serialize: all three texts must be identical.</summary>
    private static void AssertRoundTrip(Spec spec)
    {
        string json = Stj(spec);
        Assert.Equal(json, Stj(Parse(json)));
        Assert.Equal(json, Stj(StjParse(json)));
        string indented = JsonSerializer.Serialize(spec, SpecJsonContext.Indented.Spec);
        Assert.Equal(json, Stj(Parse(indented)));
    }

    /// <summary>For arbitrary (odd but valid) input: both readers must agree.</summary>
    private static void AssertSameAsStj(string json) => Assert.Equal(Stj(StjParse(json)), Stj(Parse(json)));

    [Fact]
    public void Default_spec_reads_like_STJ() => AssertRoundTrip(DefaultSpec.Create());

    [Fact]
    public void Rootless_default_spec_reads_like_STJ() => AssertRoundTrip(DefaultSpec.Create(rootless: true));

    [Fact]
    public void Every_property_reads_like_STJ()
    {
        Spec spec = Everything();
        string json = Stj(spec);
        // Spot-check names STJ's camelCase policy produces from acronyms.
        foreach (string name in new[] { "\"ociVersion\"", "\"blockIO\"", "\"throttleReadIOPSDevice\"", "\"classID\"", "\"kernelTCP\"",
                     "\"disableOOMKiller\"", "\"containerID\"", "\"hostID\"", "\"closID\"", "\"l3CacheSchema\"", "\"ioPriority\"", "\"checkBeforeUpdate\"" })
            Assert.Contains(name, json);
        AssertRoundTrip(spec);
    }

    [Fact]
    public void Absent_properties_keep_the_class_defaults()
    {
        Spec s = Parse("""{"process":{},"root":{},"mounts":[{}],"linux":{"seccomp":{"syscalls":[{}]},"personality":{}}}""");
        Assert.Equal("1.1.0", s.OciVersion);
        Assert.Equal("/", s.Process!.Cwd);
        Assert.NotNull(s.Process.User);
        Assert.Null(s.Process.Args);
        Assert.Equal("", s.Root!.Path);
        Assert.Equal("", s.Mounts![0].Destination);
        Assert.NotNull(s.Linux!.Seccomp!.Syscalls![0].Names);
        Assert.Equal("", s.Linux.Personality!.Domain);
        Assert.Null(s.Hooks);
        AssertSameAsStj("""{"process":{},"root":{},"mounts":[{}],"linux":{"seccomp":{"syscalls":[{}]},"personality":{}}}""");
    }

    [Fact]
    public void Nulls_duplicates_and_escapes_read_like_STJ()
    {
        AssertSameAsStj("""{"ociVersion":null,"process":{"user":null,"cwd":null,"args":["a",null],"oomScoreAdj":null},"hostname":null}""");
        AssertSameAsStj("""{"mounts":[null,{"destination":"/x","options":null}],"annotations":{"a":null,"b":"c"}}""");
        AssertSameAsStj("""{"linux":{"resources":{"memory":{"limit":null,"disableOOMKiller":null},"rdma":{"mlx":null}},"seccomp":{"syscalls":[{"names":null}]}}}""");
        AssertSameAsStj("""{"hostname":"a","hostname":"b","process":{"args":["x"],"args":["y","z"]},"annotations":{"k":"1","k":"2"}}""");
        AssertSameAsStj("""{"host\u006eame":"\u00e9t\u00e9\n","process":{"env":["A=\"q\"","\ud83d\ude00"]}}""");
        AssertSameAsStj("""{"linux":{"resources":{"memory":{"limit":9223372036854775807,"swappiness":18446744073709551615},"blockIO":{"weight":65535}}}}""");
        // Names are case-sensitive: these are unknown properties, skipped.
        Spec s = Parse("""{"Hostname":"x","PROCESS":{"args":"not checked"},"linux":{"Namespaces":7}}""");
        Assert.Null(s.Hostname);
        Assert.Null(s.Process);
        Assert.Null(s.Linux!.Namespaces);
    }

    [Fact]
    public void Unknown_properties_are_skipped_at_every_depth()
    {
        const string json = """
            {
              "x-top": {"a": [1, {"b": null}], "process": {"args": 5}},
              "process": {"futureField": [[], {}], "args": ["sh"], "user": {"uid": 1, "extra": {"uid": "no"}}},
              "linux": {
                "namespaces": [{"type": "pid", "flags": [1, 2, 3]}],
                "resources": {"memory": {"limit": 5, "future": {"deep": {"deeper": [true]}}}, "misc": 1},
                "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "comment": "x"}]}
              },
              "mounts": [{"destination": "/proc", "whatever": "x"}],
              "zzz": "last"
            }
            """;
        Spec s = Parse(json);
        Assert.Equal(["sh"], s.Process!.Args!);
        Assert.Equal(1u, s.Process.User.Uid);
        Assert.Equal("pid", s.Linux!.Namespaces![0].Type);
        Assert.Equal(5, s.Linux.Resources!.Memory!.Limit);
        Assert.Equal(["read"], s.Linux.Seccomp!.Syscalls![0].Names);
        Assert.Equal("/proc", s.Mounts![0].Destination);
        AssertSameAsStj(json);
    }

    [Fact]
    public void Comments_and_trailing_commas_are_accepted()
    {
        const string json = """
            // leading comment
            {
              /* block */ "ociVersion": "1.0.2", // after a value
              "process": {
                "args": ["sh", "-c", /* inside */ "true",],
                "env": [],
              },
              "annotations": {"a": "b",},
            } // trailing
            """;
        Spec s = Parse(json);
        Assert.Equal("1.0.2", s.OciVersion);
        Assert.Equal(["sh", "-c", "true"], s.Process!.Args!);
        Assert.Empty(s.Process.Env!);
        Assert.Equal("b", s.Annotations!["a"]);
        AssertSameAsStj(json);
    }

    [Theory]
    [InlineData("""{"process":{"args":"sh"}}""", "process.args", "expected an array of strings, got a string")]
    [InlineData("""{"linux":{"namespaces":[{"type":1}]}}""", "linux.namespaces[0].type", "expected a string, got a number")]
    [InlineData("""{"process":{"user":{"uid":-1}}}""", "process.user.uid", "got -1")]
    [InlineData("""{"process":{"user":{"uid":4294967296}}}""", "process.user.uid", "got 4294967296")]
    [InlineData("""{"process":{"user":{"gid":1.5}}}""", "process.user.gid", "got 1.5")]
    [InlineData("""{"process":{"user":{"gid":null}}}""", "process.user.gid", "got null")]
    [InlineData("""{"process":{"terminal":"yes"}}""", "process.terminal", "expected true or false, got a string")]
    [InlineData("""{"process":{"oomScoreAdj":"5"}}""", "process.oomScoreAdj", "got a string")]
    [InlineData("""{"process":{"ioPriority":{"class":"IOPRIO_CLASS_BE","priority":"high"}}}""", "process.ioPriority.priority", "got a string")]
    [InlineData("""{"mounts":[{"destination":"/x","options":["ro",3]}]}""", "mounts[0].options[1]", "expected a string, got a number")]
    [InlineData("""{"mounts":[{},{"uidMappings":[{"containerID":0,"hostID":true}]}]}""", "mounts[1].uidMappings[0].hostID", "got a boolean")]
    [InlineData("""{"linux":{"resources":{"blockIO":{"weight":65536}}}}""", "linux.resources.blockIO.weight", "got 65536")]
    [InlineData("""{"linux":{"resources":{"blockIO":{"throttleReadIOPSDevice":[{"major":1,"minor":2,"rate":-3}]}}}}""", "linux.resources.blockIO.throttleReadIOPSDevice[0].rate", "got -3")]
    [InlineData("""{"linux":{"seccomp":{"syscalls":[{"names":["a"]},{"args":[{},{"op":[]}]}]}}}""", "linux.seccomp.syscalls[1].args[1].op", "got an array")]
    [InlineData("""{"linux":{"sysctl":{"net.ipv4.ip_forward":1}}}""", "linux.sysctl[\"net.ipv4.ip_forward\"]", "expected a string, got a number")]
    [InlineData("""{"linux":{"resources":{"rdma":{"mlx5_0":{"hcaHandles":"x"}}}}}""", "linux.resources.rdma.mlx5_0.hcaHandles", "got a string")]
    [InlineData("""{"root":[]}""", "root", "expected an object, got an array")]
    [InlineData("""[]""", "", "expected an object, got an array")]
    [InlineData("""null""", "", "expected an object, got null")]
    [InlineData("""  "spec" """, "", "expected an object, got a string")]
    public void Errors_name_the_field(string json, string path, string detail)
    {
        var e = Assert.Throws<SpecFormatException>(() => Parse(json));
        Assert.Equal(path, e.Path);
        Assert.Contains(detail, e.Message);
        Assert.StartsWith(path.Length == 0 ? "invalid JSON: " : $"invalid JSON at {path}: ", e.Message);
        // STJ rejects the same documents (except a top-level null, which it returns as null).
        if (json != "null") Assert.ThrowsAny<JsonException>(() => StjParse(json));
    }

    [Theory]
    [InlineData("""{"linux":{"namespaces":[{"type":"pid" """, "linux.namespaces[0]")]
    [InlineData("""{"process":{"args":["sh", """, "process.args[1]")]
    [InlineData("""{"hostname":"abc""", "hostname")]
    [InlineData("""{"process":""", "process")]
    [InlineData("""{""", "")]
    [InlineData("", "")]
    [InlineData("   ", "")]
    public void Truncated_documents_are_a_SpecFormatException(string json, string path)
    {
        var e = Assert.Throws<SpecFormatException>(() => Parse(json));
        Assert.Equal(path, e.Path);
        Assert.Contains("unexpected end of data", e.Message);
    }

    [Theory]
    [InlineData("""{"hostname":"a",}x""", "")]
    [InlineData("""{"hostname":"a"} {}""", "")]
    [InlineData("""{"process":{"args":[sh]}}""", "process.args[0]")]
    [InlineData("""{"process":{"args":["a" "b"]}}""", "process.args[1]")]
    [InlineData("""{"linux":{"namespaces":[{"type":"pid"}],}]}""", "")]
    [InlineData("""{"linux":{"namespaces":[{"type":"pid"}}}""", "linux.namespaces[1]")]
    [InlineData("""{"linux":{"sysctl":{"a":"b" "c":"d"}}}""", "linux.sysctl")]
    public void Malformed_documents_are_a_SpecFormatException(string json, string path)
    {
        var e = Assert.Throws<SpecFormatException>(() => Parse(json));
        Assert.Equal(path, e.Path);
        Assert.Contains("malformed JSON at line 1", e.Message);
        Assert.ThrowsAny<JsonException>(() => StjParse(json));
    }

    [Fact]
    public void A_byte_order_mark_is_treated_like_STJ_treats_it()
    {
        byte[] json = [0xEF, 0xBB, 0xBF, .. "{\"hostname\":\"h\"}"u8];
        Exception? stj = Record.Exception(() => JsonSerializer.Deserialize(json, SpecJsonContext.Default.Spec));
        Exception? ours = Record.Exception(() => SpecReader.Parse(json));
        Assert.Equal(stj is null, ours is null);
    }

    [Fact]
    public void Malformed_position_counts_lines()
    {
        var e = Assert.Throws<SpecFormatException>(() => Parse("{\n  \"process\": {\n    \"cwd\": /\n  }\n}"));
        Assert.Equal("process.cwd", e.Path);
        Assert.Contains("line 3, column 12 (near '/')", e.Message);
    }

    /// <summary>Every property of every Spec.cs class set to a non-default value.</summary>
    private static Spec Everything()
    {
        static List<LinuxIdMapping> Ids(uint b) => [new() { ContainerId = b, HostId = b + 100000, Size = 65536 }, new() { ContainerId = b + 1, HostId = 7, Size = 1 }];
        static Hook H(string n) => new() { Path = $"/usr/bin/{n}", Args = [n, "--flag"], Env = ["HOOK=" + n], Timeout = 17 };
        return new Spec
        {
            OciVersion = "1.2.0",
            Process = new OciProcess
            {
                Terminal = true,
                ConsoleSize = new Box { Height = 24, Width = 80 },
                User = new User { Uid = 1000, Gid = 1001, Umask = 18, AdditionalGids = [5, 6, uint.MaxValue], Username = "alice" },
                Args = ["sh", "-c", "echo \"hi\" \\ \u00e9\t"],
                CommandLine = "sh -c true",
                Env = ["PATH=/bin", "TERM=xterm"],
                Cwd = "/work",
                Capabilities = new LinuxCapabilities
                {
                    Bounding = ["CAP_KILL"], Effective = ["CAP_CHOWN"], Inheritable = ["CAP_NET_RAW"], Permitted = ["CAP_SETUID"], Ambient = ["CAP_SETGID"],
                },
                Rlimits = [new PosixRlimit { Type = "RLIMIT_NOFILE", Hard = ulong.MaxValue, Soft = 1024 }],
                NoNewPrivileges = true,
                ApparmorProfile = "docker-default",
                OomScoreAdj = -500,
                SelinuxLabel = "system_u:system_r:container_t:s0",
                IoPriority = new LinuxIOPriority { Class = "IOPRIO_CLASS_BE", Priority = 4 },
            },
            Root = new Root { Path = "/bundle/rootfs", Readonly = true },
            Hostname = "host",
            Domainname = "example.org",
            Mounts =
            [
                new Mount { Destination = "/data", Type = "bind", Source = "/srv/data", Options = ["rbind", "ro"], UidMappings = Ids(0), GidMappings = Ids(10) },
                new Mount { Destination = "/tmp", Type = "tmpfs", Source = "tmpfs", Options = [] },
            ],
            Hooks = new Hooks
            {
                Prestart = [H("prestart")], CreateRuntime = [H("createRuntime")], CreateContainer = [H("createContainer")],
                StartContainer = [H("startContainer")], Poststart = [H("poststart"), H("poststart2")], Poststop = [H("poststop")],
            },
            Annotations = new() { ["org.example.key"] = "value", ["empty"] = "" },
            Linux = new OciLinux
            {
                UidMappings = Ids(0),
                GidMappings = Ids(1),
                Sysctl = new() { ["net.ipv4.ip_forward"] = "1", ["kernel.shmmax"] = "65536" },
                Resources = new LinuxResources
                {
                    Devices = [new LinuxDeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = -1, Access = "rwm" }],
                    Memory = new LinuxMemory
                    {
                        Limit = 1 << 30, Reservation = 1 << 29, Swap = -1, Kernel = 12345, KernelTCP = 6789, Swappiness = 60,
                        DisableOOMKiller = true, UseHierarchy = false, CheckBeforeUpdate = true,
                    },
                    Cpu = new LinuxCpu
                    {
                        Shares = 1024, Quota = 50000, Burst = 1000, Period = 100000, RealtimeRuntime = 950000, RealtimePeriod = 1000000,
                        Cpus = "0-3", Mems = "0", Idle = 1,
                    },
                    Pids = new LinuxPids { Limit = 4096 },
                    BlockIO = new LinuxBlockIo
                    {
                        Weight = 500, LeafWeight = 300,
                        WeightDevice = [new LinuxWeightDevice { Major = 8, Minor = 0, Weight = 600, LeafWeight = 200 }],
                        ThrottleReadBpsDevice = [new LinuxThrottleDevice { Major = 8, Minor = 1, Rate = 1048576 }],
                        ThrottleWriteBpsDevice = [new LinuxThrottleDevice { Major = 8, Minor = 2, Rate = 2097152 }],
                        ThrottleReadIOPSDevice = [new LinuxThrottleDevice { Major = 8, Minor = 3, Rate = 1000 }],
                        ThrottleWriteIOPSDevice = [new LinuxThrottleDevice { Major = 8, Minor = 4, Rate = 2000 }],
                    },
                    HugepageLimits = [new LinuxHugepageLimit { PageSize = "2MB", Limit = 209715200 }],
                    Network = new LinuxNetwork { ClassID = 1048577, Priorities = [new LinuxInterfacePriority { Name = "eth0", Priority = 500 }] },
                    Rdma = new() { ["mlx5_1"] = new LinuxRdma { HcaHandles = 3, HcaObjects = 10000 } },
                    Unified = new() { ["memory.high"] = "max", ["io.weight"] = "default 100" },
                },
                CgroupsPath = "/csrun/test",
                Namespaces = [new LinuxNamespace { Type = "pid" }, new LinuxNamespace { Type = "network", Path = "/var/run/netns/x" }],
                Devices = [new LinuxDevice { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229, FileMode = 438, Uid = 0, Gid = 5 }],
                Seccomp = new LinuxSeccomp
                {
                    DefaultAction = "SCMP_ACT_ERRNO",
                    DefaultErrnoRet = 1,
                    Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                    Flags = ["SECCOMP_FILTER_FLAG_LOG"],
                    ListenerPath = "/run/seccomp.sock",
                    ListenerMetadata = "meta",
                    Syscalls =
                    [
                        new LinuxSyscall
                        {
                            Names = ["personality"], Action = "SCMP_ACT_ALLOW", ErrnoRet = 38,
                            Args = [new LinuxSeccompArg { Index = 1, Value = 8, ValueTwo = ulong.MaxValue, Op = "SCMP_CMP_MASKED_EQ" }],
                        },
                    ],
                },
                RootfsPropagation = "rslave",
                MaskedPaths = ["/proc/kcore"],
                ReadonlyPaths = ["/proc/sys"],
                MountLabel = "system_u:object_r:container_file_t:s0",
                IntelRdt = new LinuxIntelRdt { ClosID = "guaranteed", L3CacheSchema = "L3:0=7f0", MemBwSchema = "MB:0=20" },
                Personality = new LinuxPersonality { Domain = "LINUX32", Flags = ["flag"] },
            },
        };
    }
}
