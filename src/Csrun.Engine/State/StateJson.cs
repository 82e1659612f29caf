using System.Buffers;
using System.Text.Json;
using Csrun.Oci;

namespace Csrun.Engine.State;

/// <summary>
/// Writes the two documents on the start path (the hooks' state on stdin and state.json) straight through
/// Utf8JsonWriter: the source-generated serializer's first call costs ~0.3 ms of metadata set-up each.
/// state.json is read back by <see cref="ReadRecord"/> the same way: every command but `spec` loads one.
/// </summary>
internal static class StateJson
{
    private static readonly JsonWriterOptions Options = new() { Encoder = MinimalJsonEncoder.Instance };

    public static byte[] Write(ContainerState s)
    {
        var buf = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buf, Options))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion"u8, s.OciVersion);
            w.WriteString("id"u8, s.Id);
            w.WriteString("status"u8, s.Status);
            w.WriteNumber("pid"u8, s.Pid);
            w.WriteString("bundle"u8, s.Bundle);
            WriteMap(w, "annotations"u8, s.Annotations);
            w.WriteEndObject();
        }
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>runtime-spec "container process state": what a seccomp listener receives with the fd.</summary>
    public static byte[] WriteProcessState(ContainerState s, string? metadata)
    {
        var buf = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buf, Options))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion"u8, s.OciVersion);
            w.WriteStartArray("fds"u8);
            w.WriteStringValue("seccompFd"u8);
            w.WriteEndArray();
            w.WriteNumber("pid"u8, s.Pid);
            if (metadata is not null) w.WriteString("metadata"u8, metadata);
            w.WritePropertyName("state"u8);
            w.WriteRawValue(Write(s), skipInputValidation: true);
            w.WriteEndObject();
        }
        return buf.WrittenSpan.ToArray();
    }

    public static byte[] Write(ContainerRecord r)
    {
        var buf = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buf, Options))
        {
            w.WriteStartObject();
            w.WriteString("id"u8, r.Id);
            w.WriteString("bundle"u8, r.Bundle);
            w.WriteString("rootfs"u8, r.Rootfs);
            w.WriteNumber("pid"u8, r.Pid);
            w.WriteNumber("pidStartTime"u8, r.PidStartTime);
            w.WriteString("created"u8, r.Created);
            w.WriteString("cgroupPath"u8, r.CgroupPath);
            w.WriteBoolean("privatePidNamespace"u8, r.PrivatePidNamespace);
            w.WriteString("owner"u8, r.Owner);
            WriteMap(w, "annotations"u8, r.Annotations);
            WriteHooks(w, "poststart"u8, r.Poststart);
            WriteHooks(w, "poststop"u8, r.Poststop);
            w.WriteEndObject();
        }
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>Reads what <see cref="Write(ContainerRecord)"/> wrote; unknown properties are skipped (state
    /// written by another csrun version). Throws JsonException (or SpecFormatException) on malformed input.</summary>
    public static ContainerRecord ReadRecord(ReadOnlySpan<byte> json)
    {
        var r = new Utf8JsonReader(json);
        var x = new ContainerRecord();
        Expect(ref r, JsonTokenType.StartObject);
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("id"u8)) x.Id = String(ref r);
            else if (r.ValueTextEquals("bundle"u8)) x.Bundle = String(ref r);
            else if (r.ValueTextEquals("rootfs"u8)) x.Rootfs = String(ref r);
            else if (r.ValueTextEquals("pid"u8)) { Expect(ref r, JsonTokenType.Number); x.Pid = r.GetInt32(); }
            else if (r.ValueTextEquals("pidStartTime"u8)) { Expect(ref r, JsonTokenType.Number); x.PidStartTime = r.GetUInt64(); }
            else if (r.ValueTextEquals("created"u8)) x.Created = String(ref r);
            else if (r.ValueTextEquals("cgroupPath"u8)) x.CgroupPath = String(ref r);
            else if (r.ValueTextEquals("privatePidNamespace"u8)) { r.Read(); x.PrivatePidNamespace = r.GetBoolean(); }
            else if (r.ValueTextEquals("owner"u8)) x.Owner = String(ref r);
            else if (r.ValueTextEquals("annotations"u8)) x.Annotations = Map(ref r);
            else if (r.ValueTextEquals("poststart"u8)) { r.Read(); x.Poststart = SpecReader.ReadHookList(ref r, "poststart"); }
            else if (r.ValueTextEquals("poststop"u8)) { r.Read(); x.Poststop = SpecReader.ReadHookList(ref r, "poststop"); }
            else r.Skip();
        }
        if (r.TokenType != JsonTokenType.EndObject) throw new JsonException("expected a property name or '}'");
        return x;
    }

    private static void Expect(ref Utf8JsonReader r, JsonTokenType type)
    {
        if (!r.Read() || r.TokenType != type) throw new JsonException($"expected {type} at byte {r.TokenStartIndex}");
    }

    private static string String(ref Utf8JsonReader r)
    {
        Expect(ref r, JsonTokenType.String);
        return r.GetString()!;
    }

    private static Dictionary<string, string>? Map(ref Utf8JsonReader r)
    {
        r.Read();
        if (r.TokenType == JsonTokenType.Null) return null;
        if (r.TokenType != JsonTokenType.StartObject) throw new JsonException("annotations: expected an object");
        var map = new Dictionary<string, string>();
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            string key = r.GetString()!;
            map[key] = String(ref r);
        }
        return map;
    }

    private static void WriteMap(Utf8JsonWriter w, ReadOnlySpan<byte> name, Dictionary<string, string>? map)
    {
        if (map is null) return;
        w.WriteStartObject(name);
        foreach (var (k, v) in map) w.WriteString(k, v);
        w.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter w, ReadOnlySpan<byte> name, List<string>? items)
    {
        if (items is null) return;
        w.WriteStartArray(name);
        foreach (var s in items) w.WriteStringValue(s);
        w.WriteEndArray();
    }

    private static void WriteHooks(Utf8JsonWriter w, ReadOnlySpan<byte> name, List<Hook>? hooks)
    {
        if (hooks is null) return;
        w.WriteStartArray(name);
        foreach (var h in hooks)
        {
            w.WriteStartObject();
            w.WriteString("path"u8, h.Path);
            WriteStrings(w, "args"u8, h.Args);
            WriteStrings(w, "env"u8, h.Env);
            if (h.Timeout is int t) w.WriteNumber("timeout"u8, t);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
