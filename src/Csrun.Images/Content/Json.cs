using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Csrun.Images.Content;

/// <summary>Source-generated JSON reads whose failures name the document they came from.</summary>
public static class Json
{
    public static T Parse<T>(ReadOnlySpan<byte> data, JsonTypeInfo<T> type, string what)
    {
        try { return JsonSerializer.Deserialize(data, type) ?? throw new ImageException($"{what}: empty document"); }
        catch (JsonException e) { throw new ImageException($"{what}: invalid JSON: {e.Message}"); }
    }
}
