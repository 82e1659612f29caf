using System.Text.Json;
using System.Text.Json.Serialization;

namespace Csrun.Oci;

/// <summary>Source-generated (reflection-free, AOT-safe) serializers for every OCI document csrun reads or writes.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    WriteIndented = false)]
[JsonSerializable(typeof(Spec))]
[JsonSerializable(typeof(ContainerState))]
[JsonSerializable(typeof(Features))]
[JsonSerializable(typeof(LinuxResources))]
[JsonSerializable(typeof(Process))]
public sealed partial class SpecJsonContext : JsonSerializerContext
{
    /// <summary>Same options, indented: for documents people read (`spec`, `features`, `state`).</summary>
    public static SpecJsonContext Indented => s_indented ??= new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    // Lazily: the start path only reads config.json and must not pay for a second options instance.
    private static SpecJsonContext? s_indented;
}
