using System.Text.Json;
using System.Text.Json.Nodes;

namespace Csrun.Cni;

/// <summary>A network configuration list: the conflist's name, version and its plugins' configurations in chain order.</summary>
public sealed class CniConfigList
{
    public static readonly string[] DefaultConfigDirs = ["/etc/cni/net.d"];

    // Debian's containernetworking-plugins installs to /usr/lib/cni; /opt/cni/bin is where upstream tarballs go.
    public static readonly string[] DefaultPluginDirs = ["/usr/lib/cni", "/opt/cni/bin"];

    private static readonly string[] Extensions = [".conflist", ".conf", ".json"];

    private CniConfigList(string name, string cniVersion, bool disableCheck, IReadOnlyList<JsonObject> plugins, string? source)
    {
        Name = name;
        CniVersion = cniVersion;
        DisableCheck = disableCheck;
        Plugins = plugins;
        Source = source;
    }

    public string Name { get; }
    public string CniVersion { get; }
    public bool DisableCheck { get; }

    /// <summary>Each plugin's configuration as written; <see cref="CniNetwork"/> adds name, cniVersion and the rest per call.</summary>
    public IReadOnlyList<JsonObject> Plugins { get; }

    /// <summary>The file it was read from, if any.</summary>
    public string? Source { get; }

    /// <summary>
    /// The first configuration file, by name order, of the first directory that has one (as containerd and
    /// CRI-O pick it), or null where there is none. A file that cannot be parsed is an error naming it, not skipped:
    /// a typo must not silently select another network.
    /// </summary>
    public static CniConfigList? LoadFirst(IEnumerable<string> dirs)
    {
        foreach (string dir in dirs)
        {
            if (!Directory.Exists(dir))
                continue;
            string? file = Directory.EnumerateFiles(dir)
                .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.Ordinal))
                .Order(StringComparer.Ordinal)
                .FirstOrDefault();
            if (file is not null)
                return Load(file);
        }
        return null;
    }

    public static CniConfigList Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (IOException e)
        {
            throw new CniException($"{path}: {e.Message}", e);
        }
        return Parse(text, path);
    }

    /// <summary>Parses a conflist, or a single plugin's .conf (which becomes a list of one).</summary>
    public static CniConfigList Parse(string json, string? source = null)
    {
        string where = source ?? "CNI config";
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new CniException($"{where}: not a JSON object");
        }
        catch (JsonException e)
        {
            throw new CniException($"{where}: {e.Message}", e);
        }

        string name = GetString(root, "name") ?? throw new CniException($"{where}: name: missing");
        string version = GetString(root, "cniVersion") ?? throw new CniException($"{where}: cniVersion: missing");
        bool disableCheck = root["disableCheck"] is JsonValue v && v.TryGetValue(out bool b) && b;

        var plugins = new List<JsonObject>();
        if (root["plugins"] is JsonArray array)
        {
            for (int i = 0; i < array.Count; i++)
            {
                if (array[i] is not JsonObject plugin || GetString(plugin, "type") is null)
                    throw new CniException($"{where}: plugins[{i}].type: missing");
                plugins.Add((JsonObject)plugin.DeepClone());
            }
        }
        else if (GetString(root, "type") is not null)
        {
            plugins.Add((JsonObject)root.DeepClone());
        }
        if (plugins.Count == 0)
            throw new CniException($"{where}: plugins: none");
        return new CniConfigList(name, version, disableCheck, plugins, source);
    }

    internal static string? GetString(JsonObject o, string key) =>
        o[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
}
