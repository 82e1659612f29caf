using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Csrun.Oci;

/// <summary>A config.json that cannot be read into a <see cref="Spec"/>; <see cref="Path"/> names the field ("" for the document).</summary>
public sealed class SpecFormatException(string path, string message)
    : Exception(path.Length == 0 ? $"invalid JSON: {message}" : $"invalid JSON at {path}: {message}")
{
    /// <summary>Where the problem is, e.g. "linux.namespaces[0].type"; "" for the document itself.</summary>
    public string Path { get; } = path;

    /// <summary>The message without the "invalid JSON at PATH: " prefix.</summary>
    public string Detail { get; } = message;
}

/// <summary>
/// Reads config.json straight off a <see cref="Utf8JsonReader"/> into the <see cref="Spec"/> classes: the same object
/// graph <c>JsonSerializer.Deserialize(json, SpecJsonContext.Default.Spec)</c> builds, without the serializer's
/// metadata start-up (the start path reads exactly one document).
/// </summary>
/// <remarks>
/// Semantics follow SpecJsonContext: camelCase, case-sensitive property names; unknown properties skipped whatever
/// their value; comments and trailing commas allowed; a number must be an integer that fits its property; JSON null
/// sets any reference-typed property (or list element, or dictionary value) to null, as STJ does without
/// RespectNullableAnnotations, and is an error for a non-nullable value type. Duplicate properties: the last wins.
/// One method per class, each entered with the reader on the value's first token and leaving it on its last.
/// </remarks>
public static partial class SpecReader
{
    private static readonly JsonReaderOptions s_options = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public static Spec Parse(ReadOnlySpan<byte> utf8Json)
    {
        var r = new Utf8JsonReader(utf8Json, s_options);
        var p = new PathBuilder();
        try
        {
            Next(ref r, ref p);
            if (r.TokenType != JsonTokenType.StartObject) throw Unexpected(ref r, ref p, "an object");
            Spec spec = ReadSpec(ref r, ref p);
            // The reader itself rejects anything but whitespace and comments after the document.
            if (r.Read()) throw new SpecFormatException("", "unexpected data after the document");
            return spec;
        }
        catch (JsonException e)
        {
            throw Malformed(e, utf8Json, ref p);
        }
    }

    /// <summary>A JSON array of hooks (config.json's shape), for documents that embed one (csrun's state.json);
    /// the reader is on the array's first token (or null) and is left on its last.</summary>
    public static List<Hook>? ReadHookList(ref Utf8JsonReader r, string path)
    {
        var p = new PathBuilder();
        p.Push(path);
        return HookList(ref r, ref p);
    }

    // ---- navigation ------------------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Next(ref Utf8JsonReader r, ref PathBuilder p)
    {
        // With isFinalBlock the reader throws on truncated input; false means the document ended early anyway.
        if (!r.Read()) throw new SpecFormatException(p.ToString(), "unexpected end of data");
    }

    /// <summary>On an object's StartObject or previous property value: moves to the next property name, or returns false at EndObject.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool NextProperty(ref Utf8JsonReader r, ref PathBuilder p)
    {
        Next(ref r, ref p);
        return r.TokenType == JsonTokenType.PropertyName;
    }

    /// <summary>If the current property is <paramref name="utf8Name"/>: enters it (path and reader move to the value).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Prop(ref Utf8JsonReader r, ref PathBuilder p, ReadOnlySpan<byte> utf8Name, string name)
    {
        Debug.Assert(utf8Name.SequenceEqual(Encoding.UTF8.GetBytes(name)), $"property name mismatch: {name}");
        if (!r.ValueTextEquals(utf8Name)) return false;
        p.Push(name);
        Next(ref r, ref p);
        return true;
    }

    /// <summary>On an unknown property's name: skips its value, nested or not.</summary>
    private static void SkipProperty(ref Utf8JsonReader r) => r.Skip();

    /// <summary>True on StartObject, false on null; anything else is an error.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool BeginObject(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (r.TokenType == JsonTokenType.StartObject) return true;
        if (r.TokenType == JsonTokenType.Null) return false;
        throw Unexpected(ref r, ref p, "an object");
    }

    // ---- scalars ---------------------------------------------------------------------------------------------

    private static string? Str(ref Utf8JsonReader r, ref PathBuilder p) => r.TokenType switch
    {
        JsonTokenType.String => r.GetString(),
        JsonTokenType.Null => null,
        _ => throw Unexpected(ref r, ref p, "a string"),
    };

    // For list items and non-nullable properties: STJ stores a JSON null there too.
    private static string StrItem(ref Utf8JsonReader r, ref PathBuilder p) => Str(ref r, ref p)!;

    private static bool Bool(ref Utf8JsonReader r, ref PathBuilder p) => r.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        _ => throw Unexpected(ref r, ref p, "true or false"),
    };

    private static bool? NBool(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Null ? null : Bool(ref r, ref p);

    private static uint U32(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Number && r.TryGetUInt32(out uint v) ? v : throw BadNumber(ref r, ref p, "an unsigned 32-bit integer");

    private static uint? NU32(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Null ? null : U32(ref r, ref p);

    private static int I32(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Number && r.TryGetInt32(out int v) ? v : throw BadNumber(ref r, ref p, "a 32-bit integer");

    private static int? NI32(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Null ? null : I32(ref r, ref p);

    private static long I64(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Number && r.TryGetInt64(out long v) ? v : throw BadNumber(ref r, ref p, "a 64-bit integer");

    private static long? NI64(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Null ? null : I64(ref r, ref p);

    private static ulong U64(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Number && r.TryGetUInt64(out ulong v) ? v : throw BadNumber(ref r, ref p, "an unsigned 64-bit integer");

    private static ulong? NU64(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Null ? null : U64(ref r, ref p);

    private static ushort? NU16(ref Utf8JsonReader r, ref PathBuilder p) =>
        r.TokenType == JsonTokenType.Null ? null
        : r.TokenType == JsonTokenType.Number && r.TryGetUInt16(out ushort v) ? v
        : throw BadNumber(ref r, ref p, "an unsigned 16-bit integer");

    // ---- collections -----------------------------------------------------------------------------------------

    private delegate T ItemReader<T>(ref Utf8JsonReader r, ref PathBuilder p);

    private static List<T>? List<T>(ref Utf8JsonReader r, ref PathBuilder p, ItemReader<T> item, string expected)
    {
        if (r.TokenType == JsonTokenType.Null) return null;
        if (r.TokenType != JsonTokenType.StartArray) throw Unexpected(ref r, ref p, expected);
        var list = new List<T>();
        p.PushIndex();
        while (true)
        {
            p.SetIndex(list.Count); // before Next: a malformed or missing element is reported at its own index
            Next(ref r, ref p);
            if (r.TokenType == JsonTokenType.EndArray) break;
            list.Add(item(ref r, ref p));
        }
        p.Pop();
        return list;
    }

    private static List<string>? StrList(ref Utf8JsonReader r, ref PathBuilder p) =>
        List(ref r, ref p, StrItem, "an array of strings");

    private static Dictionary<string, T>? Dict<T>(ref Utf8JsonReader r, ref PathBuilder p, ItemReader<T> value)
    {
        if (!BeginObject(ref r, ref p)) return null;
        var dict = new Dictionary<string, T>();
        while (NextProperty(ref r, ref p))
        {
            string key = r.GetString()!;
            p.PushKey(key);
            Next(ref r, ref p);
            dict[key] = value(ref r, ref p);
            p.Pop();
        }
        return dict;
    }

    private static Dictionary<string, string>? StrDict(ref Utf8JsonReader r, ref PathBuilder p) => Dict(ref r, ref p, StrItem);

    // ---- errors ----------------------------------------------------------------------------------------------

    private static SpecFormatException Unexpected(ref Utf8JsonReader r, ref PathBuilder p, string expected) =>
        new(p.ToString(), $"expected {expected}, got {Describe(ref r)}");

    private static SpecFormatException BadNumber(ref Utf8JsonReader r, ref PathBuilder p, string expected) =>
        r.TokenType == JsonTokenType.Number
            ? new(p.ToString(), $"expected {expected}, got {Encoding.UTF8.GetString(r.ValueSpan)}")
            : Unexpected(ref r, ref p, expected);

    private static string Describe(ref Utf8JsonReader r) => r.TokenType switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        _ => r.TokenType.ToString(),
    };

    // The reader's own messages are resource keys in the trimmed runtime (UseSystemResourceKeys): report the
    // position instead, and say so plainly when the document just stops.
    private static SpecFormatException Malformed(JsonException e, ReadOnlySpan<byte> json, ref PathBuilder p)
    {
        long line = e.LineNumber ?? -1, column = e.BytePositionInLine ?? -1;
        if (line < 0 || column < 0) return new(p.ToString(), "malformed document");
        long offset = 0;
        for (long l = 0; l < line; l++)
        {
            int nl = json[(int)offset..].IndexOf((byte)'\n');
            if (nl < 0) { offset = json.Length; break; }
            offset += nl + 1;
        }
        offset += column;
        if (offset >= json.Length) return new(p.ToString(), "unexpected end of data");
        byte b = json[(int)offset];
        string what = b is >= 0x21 and < 0x7f ? $"'{(char)b}'" : $"byte 0x{b:x2}";
        return new(p.ToString(), $"malformed JSON at line {line + 1}, column {column + 1} (near {what})");
    }

    // ---- path ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Where the reader is, as a stack of frames holding only references to literal names (or an index, or a
    /// dictionary key the dictionary keeps anyway): nothing is formatted unless an error needs the text.
    /// </summary>
    private struct PathBuilder
    {
        private const int Capacity = 16; // the deepest spec field, linux.seccomp.syscalls[i].args[j].op, needs 7

        private enum Kind : byte { Name, Index, Key }

        private struct Frame
        {
            public string? Name;
            public int Index;
            public Kind Kind;
        }

        [InlineArray(Capacity)]
        private struct Frames { private Frame _first; }

        private Frames _frames;
        private int _depth;

        public void Push(string name) => PushFrame(name, Kind.Name);

        public void PushKey(string key) => PushFrame(key, Kind.Key);

        public void PushIndex() => PushFrame(null, Kind.Index);

        public void SetIndex(int index)
        {
            if (_depth <= Capacity) _frames[_depth - 1].Index = index;
        }

        public void Pop() => _depth--;

        private void PushFrame(string? name, Kind kind)
        {
            if (_depth < Capacity) _frames[_depth] = new Frame { Name = name, Kind = kind };
            _depth++;
        }

        public override readonly string ToString()
        {
            var sb = new StringBuilder();
            for (int i = 0; i < _depth && i < Capacity; i++)
            {
                Frame f = _frames[i];
                switch (f.Kind)
                {
                    case Kind.Index:
                        sb.Append('[').Append(f.Index).Append(']');
                        break;
                    case Kind.Key when !IsPlainKey(f.Name!):
                        sb.Append("[\"").Append(f.Name).Append("\"]");
                        break;
                    default:
                        if (sb.Length > 0) sb.Append('.');
                        sb.Append(f.Name);
                        break;
                }
            }
            if (_depth > Capacity) sb.Append("...");
            return sb.ToString();
        }

        private static bool IsPlainKey(string key)
        {
            if (key.Length == 0) return false;
            foreach (char c in key)
                if (!char.IsAsciiLetterOrDigit(c) && c != '_' && c != '-') return false;
            return true;
        }
    }
}
