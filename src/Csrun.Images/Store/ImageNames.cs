using System.Text.Json;
using System.Text.Json.Serialization;
using Csrun.Images.Content;
using Csrun.Linux;

namespace Csrun.Images.Store;

/// <summary>One named image: the reference it was pulled or imported as and the descriptor it resolves to
/// (an index or a manifest, as the registry served it).</summary>
public sealed class ImageRecord
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("target")] public Descriptor Target { get; set; } = new();
    [JsonPropertyName("created")] public DateTimeOffset Created { get; set; }
}

internal sealed class ImageNamesFile
{
    [JsonPropertyName("images")] public List<ImageRecord> Images { get; set; } = [];
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(ImageNamesFile))]
internal sealed partial class ImageNamesJsonContext : JsonSerializerContext;

/// <summary>
/// Names → descriptors in &lt;root&gt;/images.json. Every change happens under an exclusive flock and
/// replaces the file by rename, so readers never see half a file and a name appears only after
/// everything it references is in the store.
/// </summary>
public sealed class ImageNames(string root)
{
    private readonly string _file = Path.Combine(root, "images.json");
    private readonly string _lock = Path.Combine(root, "images.lock");

    public IReadOnlyList<ImageRecord> List() => Read().Images;

    public ImageRecord? Find(string name) => Read().Images.Find(i => i.Name == name);

    public void Set(string name, Descriptor target) => Update(f =>
    {
        f.Images.RemoveAll(i => i.Name == name);
        f.Images.Add(new ImageRecord { Name = name, Target = target, Created = DateTimeOffset.UtcNow });
        f.Images.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return true;
    });

    public bool Remove(string name) => Update(f => f.Images.RemoveAll(i => i.Name == name) > 0);

    private ImageNamesFile Read()
    {
        try
        {
            using var s = File.OpenRead(_file);
            return JsonSerializer.Deserialize(s, ImageNamesJsonContext.Default.ImageNamesFile) ?? new();
        }
        catch (FileNotFoundException) { return new(); }
        catch (DirectoryNotFoundException) { return new(); }
        catch (JsonException e) { throw new ImageException($"{_file}: {e.Message}"); }
    }

    private bool Update(Func<ImageNamesFile, bool> change)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_file)!);
        using var _ = FileLock.Acquire(_lock, Libc.LOCK_EX);
        var f = Read();
        if (!change(f)) return false;
        string tmp = $"{_file}.{Environment.ProcessId}.tmp";
        using (var s = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(s, f, ImageNamesJsonContext.Default.ImageNamesFile);
            s.Flush(flushToDisk: true);
        }
        File.Move(tmp, _file, overwrite: true);
        return true;
    }
}
