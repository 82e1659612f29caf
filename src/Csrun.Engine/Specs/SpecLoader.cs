using System.Text.Json;
using Csrun.Oci;

namespace Csrun.Engine.Specs;

/// <summary>Reads a bundle's config.json; every failure names the file and, for bad JSON, the field.</summary>
public static class SpecLoader
{
    public static Oci.Spec Load(string bundle)
    {
        string path = Path.Combine(bundle, "config.json");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
            PhaseTimer.Mark("read config.json");
        }
        catch (FileNotFoundException)
        {
            throw new ContainerException($"config.json: {path} does not exist");
        }
        catch (DirectoryNotFoundException)
        {
            throw new ContainerException($"bundle {bundle} does not exist");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ContainerException($"config.json: cannot read {path}: {e.Message}");
        }
        return Parse(bytes, path);
    }

    public static Oci.Spec Parse(ReadOnlySpan<byte> json, string name = "config.json")
    {
        try
        {
            return JsonSerializer.Deserialize(json, SpecJsonContext.Default.Spec)
                ?? throw new ContainerException($"{name}: the document is null");
        }
        catch (JsonException e)
        {
            string field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" at {FieldName(e.Path)}";
            throw new ContainerException($"{name}: invalid JSON{field}: {FirstSentence(e.Message)}");
        }
    }

    // "$.linux.namespaces[0].type" reads better as "linux.namespaces[0].type".
    private static string FieldName(string jsonPath) => jsonPath.StartsWith("$.", StringComparison.Ordinal) ? jsonPath[2..] : jsonPath;

    private static string FirstSentence(string message)
    {
        int i = message.IndexOf(" Path:", StringComparison.Ordinal);
        return i > 0 ? message[..i].TrimEnd('.', ' ') : message;
    }
}
