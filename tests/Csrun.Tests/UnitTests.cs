using Csrun.Engine;
using Csrun.Engine.Specs;
using Csrun.Linux;
using static Csrun.Linux.MountFlags;

namespace Csrun.Tests;

/// <summary>In-process checks of the pure pieces: option parsing, signals, spec loading.</summary>
public class UnitTests
{
    [Fact]
    public void Mount_options_become_flags_propagation_and_data()
    {
        Assert.True(MountOptions.TryParse("tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k", "rprivate"], out var m, out _));
        Assert.Equal(MS_NOSUID | MS_STRICTATIME, m.Flags);
        Assert.Equal(MS_PRIVATE | MS_REC, m.Propagation);
        Assert.Equal("mode=755,size=65536k", m.Data);
        Assert.False(m.IsBind);

        Assert.True(MountOptions.TryParse(null, ["rbind", "ro", "rw", "nodev"], out m, out _));
        Assert.True(m.IsBind);
        Assert.Equal(MS_BIND | MS_REC | MS_NODEV, m.Flags);
        Assert.Equal(MS_RDONLY, m.ClearFlags);

        Assert.True(MountOptions.TryParse("bind", ["suid"], out m, out _));
        Assert.True(m.IsBind);
        Assert.Equal(MS_NOSUID, m.ClearFlags);

        // OCI 1.1's recursive options become mount_setattr attributes (linux/mount.h values), not mount flags; an
        // access-time one also clears the whole atime field, as the kernel requires.
        Assert.True(MountOptions.TryParse("bind", ["rbind", "rro", "rnosuid", "rdev", "rnoatime"], out m, out _));
        Assert.Equal(MS_BIND | MS_REC, m.Flags);
        Assert.Equal(0x1UL | 0x2 | 0x10, m.RecAttrSet);
        Assert.Equal(0x4UL | 0x70, m.RecAttrClr);

        Assert.False(MountOptions.TryParse("bind", ["ridmap"], out _, out string? err));
        Assert.Contains("ridmap", err);

        // acl/noacl are MS_POSIXACL as runc reads them, not fs data.
        Assert.True(MountOptions.TryParse("tmpfs", ["acl"], out m, out _));
        Assert.Equal(1UL << 16, m.Flags);
        Assert.Null(m.Data);

        // tmpcopyup is runc's extension, never fs data, and only for tmpfs.
        Assert.True(MountOptions.TryParse("tmpfs", ["tmpcopyup", "size=1m"], out m, out _));
        Assert.True(m.CopyUp);
        Assert.Equal("size=1m", m.Data);
        Assert.False(MountOptions.TryParse("bind", ["rbind", "tmpcopyup"], out _, out err));
        Assert.Contains("tmpcopyup", err);
    }

    [Theory]
    [InlineData("TERM", 15)]
    [InlineData("SIGKILL", 9)]
    [InlineData("sigusr1", 10)]
    [InlineData("2", 2)]
    [InlineData("RTMIN+2", 36)]
    [InlineData("RTMAX", 64)]
    public void Signals_parse_names_and_numbers(string text, int expected)
    {
        Assert.True(Signals.TryParse(text, out int sig));
        Assert.Equal(expected, sig);
    }

    [Theory]
    [InlineData("NOPE")]
    [InlineData("0")]
    [InlineData("65")]
    [InlineData("RTMIN+40")]
    public void Signals_reject_bad_input(string text) => Assert.False(Signals.TryParse(text, out _));

    [Fact]
    public void Spec_parse_names_the_field_of_a_wrong_type()
    {
        var e = Assert.Throws<ContainerException>(() => SpecLoader.Parse("{\"process\":{\"args\":\"sh\"}}"u8));
        Assert.Contains("process.args", e.Message);
        e = Assert.Throws<ContainerException>(() => SpecLoader.Parse("{\"linux\":{\"namespaces\":[{\"type\":1}]}}"u8));
        Assert.Contains("linux.namespaces[0].type", e.Message);
    }

    [Fact]
    public void Prepared_namespaces_are_new_ones_and_their_fds_close_on_dispose()
    {
        static string? Link(string path) => new FileInfo(path).LinkTarget;
        var spec = DefaultSpec.Create();
        int netFd, ipcFd;
        string? net, ipc;
        using (var prep = Csrun.Engine.Native.PreparedNamespaces.Start(spec))
        {
            Assert.NotNull(prep);
            netFd = prep.Fd(Csrun.Linux.CloneFlags.CLONE_NEWNET);
            ipcFd = prep.Fd(Csrun.Linux.CloneFlags.CLONE_NEWIPC);
            Assert.True(netFd >= 0 && ipcFd >= 0, $"net fd {netFd}, ipc fd {ipcFd}");
            Assert.Equal(-1, prep.Fd(Csrun.Linux.CloneFlags.CLONE_NEWPID));
            net = Link($"/proc/self/fd/{netFd}");
            ipc = Link($"/proc/self/fd/{ipcFd}");
            Assert.StartsWith("net:[", net);
            Assert.StartsWith("ipc:[", ipc);
            Assert.NotEqual(Link("/proc/self/ns/net"), net);
            Assert.NotEqual(Link("/proc/self/ns/ipc"), ipc);
            // Only the throwaway thread moved: this one is still in the host's namespaces.
            Assert.Equal(Link("/proc/self/ns/net"), Link("/proc/thread-self/ns/net"));
        }
        Assert.NotEqual(net, File.Exists($"/proc/self/fd/{netFd}") ? Link($"/proc/self/fd/{netFd}") : null);

        // A user namespace owns the namespaces made with it: nothing is prepared then, nor without new ones.
        var userns = DefaultSpec.Create();
        userns.Linux!.Namespaces!.Add(new Csrun.Oci.LinuxNamespace { Type = "user" });
        Assert.Null(Csrun.Engine.Native.PreparedNamespaces.Start(userns));
        var joined = DefaultSpec.Create();
        joined.Linux!.Namespaces!.RemoveAll(n => n.Type is "network" or "ipc");
        joined.Linux.Namespaces.Add(new Csrun.Oci.LinuxNamespace { Type = "network", Path = "/proc/self/ns/net" });
        Assert.Null(Csrun.Engine.Native.PreparedNamespaces.Start(joined));
    }

    [Fact]
    public void Default_spec_round_trips()
    {
        var spec = DefaultSpec.Create();
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(spec, Csrun.Oci.SpecJsonContext.Default.Spec);
        var back = SpecLoader.Parse(json);
        Assert.Equal(spec.Mounts!.Count, back.Mounts!.Count);
        Assert.Equal("sh", back.Process!.Args![0]);
        Assert.Equal(DefaultSpec.MaskedPaths, back.Linux!.MaskedPaths);
    }

    [Fact]
    public void Device_rules_keep_spec_rules_first_then_defaults_then_spec_devices()
    {
        var spec = DefaultSpec.Create();
        spec.Linux!.Devices = [new Csrun.Oci.LinuxDevice { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229 }];
        var res = DeviceRules.WithDefaults(spec);
        Assert.False(res.Devices![0].Allow);
        Assert.Equal("rwm", res.Devices[0].Access);
        Assert.Contains(res.Devices, d => d.Allow && d.Major == 1 && d.Minor == 3);
        var last = res.Devices[^1];
        Assert.True(last.Allow);
        Assert.Equal(10, last.Major);
        Assert.Equal(229, last.Minor);
        // The spec itself is not modified.
        Assert.Single(spec.Linux.Resources!.Devices!);
    }

    [Theory]
    [InlineData("abc", true)]
    [InlineData("a.b_c+d-1", true)]
    [InlineData("..", false)]
    [InlineData("a/b", false)]
    [InlineData("", false)]
    [InlineData("sp ace", false)]
    public void Container_ids_follow_runc_rules(string id, bool ok)
    {
        if (ok) Csrun.Engine.State.StateStore.ValidateId(id);
        else Assert.Throws<ContainerException>(() => Csrun.Engine.State.StateStore.ValidateId(id));
    }
}

public class StateJsonTests
{
    [Fact]
    public void State_json_written_by_hand_reads_back_by_hand_and_with_the_serializer()
    {
        var r = new Csrun.Engine.State.ContainerRecord
        {
            Id = "x", Bundle = "/b \"q\"", Rootfs = "/b/rootfs", Pid = 42, PidStartTime = 123456789, Created = "2026-01-01T00:00:00Z",
            CgroupPath = "/csrun/x", PrivatePidNamespace = true, Owner = "root",
            Annotations = new() { ["a.b"] = "c\nd" },
            Poststart = [new Csrun.Oci.Hook { Path = "/h", Args = ["h", "1"], Env = ["A=1"], Timeout = 5 }],
            Poststop = [new Csrun.Oci.Hook { Path = "/p" }],
        };
        byte[] bytes = Csrun.Engine.State.StateJson.Write(r);
        var info = Csrun.Engine.State.EngineJsonContext.Default.ContainerRecord;
        string expected = System.Text.Json.JsonSerializer.Serialize(r, info);
        var back = System.Text.Json.JsonSerializer.Deserialize(bytes, info)!;
        Assert.Equal(expected, System.Text.Json.JsonSerializer.Serialize(back, info));
        var byHand = Csrun.Engine.State.StateJson.ReadRecord(bytes);
        Assert.Equal(expected, System.Text.Json.JsonSerializer.Serialize(byHand, info));
        // Fields a newer csrun may add are skipped, whatever their shape.
        var extended = System.Text.Encoding.UTF8.GetBytes("{\"future\":{\"a\":[1,{}]}," + System.Text.Encoding.UTF8.GetString(bytes)[1..]);
        Assert.Equal(expected, System.Text.Json.JsonSerializer.Serialize(Csrun.Engine.State.StateJson.ReadRecord(extended), info));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("q\"uote and back\\slash")]
    [InlineData("new\nline\ttab\r\b\f and \u0001\u001f")]
    [InlineData("<html> & 'x' + `y`")]
    [InlineData("héllo wörld ✓ 😀")]
    [InlineData("lone {hi} high, lone {lo} low")] // lone surrogate halves, put in here: test names must be valid UTF-16
    public void State_json_strings_round_trip_with_only_the_escapes_json_needs(string value)
    {
        value = value.Replace("{hi}", "\ud800").Replace("{lo}", "\udc00");
        var s = new Csrun.Oci.ContainerState { Id = "x", Status = "creating", Bundle = value, Annotations = new() { [value] = value } };
        byte[] bytes = Csrun.Engine.State.StateJson.Write(s);
        var doc = System.Text.Json.JsonDocument.Parse(bytes).RootElement;
        // A lone surrogate half cannot be written as UTF-8: it becomes U+FFFD, as with the default encoder.
        string expected = value.Replace('\ud800', '\ufffd').Replace('\udc00', '\ufffd');
        Assert.Equal(expected, doc.GetProperty("bundle").GetString());
        Assert.Equal(expected, doc.GetProperty("annotations").GetProperty(expected).GetString());
        string raw = System.Text.Encoding.UTF8.GetString(bytes);
        // Non-ASCII and HTML-sensitive characters stay as they are (UTF-8), unlike JavaScriptEncoder.Default.
        if (value.Contains('é')) Assert.Contains("héllo wörld ✓ 😀", raw);
        if (value.Contains('<')) Assert.Contains("<html> & 'x' + `y`", raw);
        if (value.Contains('\n')) Assert.Contains("new\\nline\\ttab\\r\\b\\f and \\u0001\\u001f", raw);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("{\"pid\":\"12\"}")]
    [InlineData("{\"id\":\"x\"")]
    public void Corrupt_state_json_is_an_error(string json)
    {
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => Csrun.Engine.State.StateJson.ReadRecord(System.Text.Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void Hook_state_has_the_runtime_spec_fields()
    {
        var s = new Csrun.Oci.ContainerState { Id = "x", Status = "creating", Pid = 7, Bundle = "/b", Annotations = new() { ["k"] = "v" } };
        var doc = System.Text.Json.JsonDocument.Parse(Csrun.Engine.State.StateJson.Write(s)).RootElement;
        Assert.Equal("1.1.0", doc.GetProperty("ociVersion").GetString());
        Assert.Equal("x", doc.GetProperty("id").GetString());
        Assert.Equal("creating", doc.GetProperty("status").GetString());
        Assert.Equal(7, doc.GetProperty("pid").GetInt32());
        Assert.Equal("/b", doc.GetProperty("bundle").GetString());
        Assert.Equal("v", doc.GetProperty("annotations").GetProperty("k").GetString());
    }
}
