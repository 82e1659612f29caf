using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Google.Protobuf;

namespace Csrun.Cri.State;

/// <summary>What csrund remembers of a pod sandbox besides the request that made it (pod.json).</summary>
public sealed class PodRecord
{
    public string Id { get; set; } = "";
    public bool Ready { get; set; }
    public long CreatedAt { get; set; }
    public string? NetnsPath { get; set; }
    public string? IpcPath { get; set; }
    public string? UtsPath { get; set; }
    /// <summary>The pod's shared pid namespace (pid mode POD), held by a pause process and a bind mount.</summary>
    public string? PidPath { get; set; }
    public int PausePid { get; set; }
    /// <summary>The pod cgroup (relative to each hierarchy), always under /csrun.</summary>
    public string CgroupPath { get; set; } = "";
    public string? Ip { get; set; }
    public List<string> AdditionalIps { get; set; } = [];
    /// <summary>The CNI ADD result, kept for CHECK and DEL (the plugins release their leases from it).</summary>
    public string? CniResult { get; set; }
    public string? CniNetwork { get; set; }
    public bool NetworkAttached { get; set; }

    [JsonIgnore]
    public V1.PodSandboxConfig Config { get; set; } = new();
}

/// <summary>What csrund remembers of a container (container.json); its exit is the monitor's file.</summary>
public sealed class ContainerRecord
{
    public string Id { get; set; } = "";
    public string PodId { get; set; } = "";
    public long CreatedAt { get; set; }
    public long StartedAt { get; set; }
    public string ImageRef { get; set; } = "";
    public string ImageName { get; set; } = "";
    public string LogPath { get; set; } = "";
    public string Bundle { get; set; } = "";
    public int MonitorPid { get; set; }
    public int Pid { get; set; }
    public string? StopSignal { get; set; }

    [JsonIgnore]
    public V1.ContainerConfig Config { get; set; } = new();
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(PodRecord))]
[JsonSerializable(typeof(ContainerRecord))]
internal sealed partial class CriStateJson : JsonSerializerContext;

/// <summary>
/// csrund's records of pods and containers: &lt;root&gt;/pods/&lt;id&gt;/ and &lt;root&gt;/containers/&lt;id&gt;/, each a
/// JSON record plus the CRI request as protobuf. Everything is on disk before an RPC answers, so a restarted
/// daemon (even after kill -9) finds every pod and container it had.
/// </summary>
public sealed class CriStore
{
    private readonly ConcurrentDictionary<string, PodRecord> _pods = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ContainerRecord> _containers = new(StringComparer.Ordinal);

    public CriStore(string root)
    {
        Root = root;
        Directory.CreateDirectory(PodsDir);
        Directory.CreateDirectory(ContainersDir);
        foreach (string dir in Directory.EnumerateDirectories(PodsDir))
        {
            var pod = Load(dir, "pod.json", CriStateJson.Default.PodRecord, V1.PodSandboxConfig.Parser);
            if (pod is not null) _pods[pod.Value.Record.Id] = Attach(pod.Value);
        }
        foreach (string dir in Directory.EnumerateDirectories(ContainersDir))
        {
            var c = Load(dir, "container.json", CriStateJson.Default.ContainerRecord, V1.ContainerConfig.Parser);
            if (c is not null) _containers[c.Value.Record.Id] = Attach(c.Value);
        }
    }

    public string Root { get; }
    private string PodsDir => Path.Combine(Root, "pods");
    private string ContainersDir => Path.Combine(Root, "containers");

    /// <summary>The engine's --root for csrund's containers.</summary>
    public string RuntimeRoot => Path.Combine(Root, "runtime");

    public string PodDir(string id) => Path.Combine(PodsDir, id);
    public string ContainerDir(string id) => Path.Combine(ContainersDir, id);

    public IEnumerable<PodRecord> Pods => _pods.Values;
    public IEnumerable<ContainerRecord> Containers => _containers.Values;

    public PodRecord? FindPod(string id) => Find(_pods, id);
    public ContainerRecord? FindContainer(string id) => Find(_containers, id);

    /// <summary>By full id, or by a unique prefix as crictl lets users type.</summary>
    private static T? Find<T>(ConcurrentDictionary<string, T> map, string id) where T : class
    {
        if (string.IsNullOrEmpty(id)) return null;
        if (map.TryGetValue(id, out var hit)) return hit;
        T? found = null;
        foreach (var (key, value) in map)
        {
            if (!key.StartsWith(id, StringComparison.Ordinal)) continue;
            if (found is not null) return null; // ambiguous
            found = value;
        }
        return found;
    }

    public void Save(PodRecord pod)
    {
        string dir = PodDir(pod.Id);
        Directory.CreateDirectory(dir);
        Write(dir, "pod.json", JsonSerializer.SerializeToUtf8Bytes(pod, CriStateJson.Default.PodRecord), pod.Config);
        _pods[pod.Id] = pod;
    }

    public void Save(ContainerRecord c)
    {
        string dir = ContainerDir(c.Id);
        Directory.CreateDirectory(dir);
        Write(dir, "container.json", JsonSerializer.SerializeToUtf8Bytes(c, CriStateJson.Default.ContainerRecord), c.Config);
        _containers[c.Id] = c;
    }

    public void Forget(PodRecord pod)
    {
        _pods.TryRemove(pod.Id, out _);
        DeleteDir(PodDir(pod.Id));
    }

    public void Forget(ContainerRecord c)
    {
        _containers.TryRemove(c.Id, out _);
        DeleteDir(ContainerDir(c.Id));
    }

    private static void DeleteDir(string dir)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private static void Write(string dir, string name, byte[] json, IMessage config)
    {
        // The request first: a record on disk always has its config beside it.
        WriteAtomic(Path.Combine(dir, "config.pb"), config.ToByteArray());
        WriteAtomic(Path.Combine(dir, name), json);
    }

    private static void WriteAtomic(string path, byte[] data)
    {
        string tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            f.Write(data);
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    private static (T Record, TConfig Config)? Load<T, TConfig>(string dir, string name,
        System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, MessageParser<TConfig> parser) where TConfig : IMessage<TConfig>
    {
        string json = Path.Combine(dir, name), config = Path.Combine(dir, "config.pb");
        if (!File.Exists(json) || !File.Exists(config)) return null; // died before the first save: nothing was promised
        try
        {
            var record = JsonSerializer.Deserialize(File.ReadAllBytes(json), type)!;
            return (record, parser.ParseFrom(File.ReadAllBytes(config)));
        }
        catch (Exception e) when (e is JsonException or InvalidProtocolBufferException)
        {
            Console.Error.WriteLine($"csrund: ignoring {dir}: {e.Message}");
            return null;
        }
    }

    private static PodRecord Attach((PodRecord Record, V1.PodSandboxConfig Config) p)
    {
        p.Record.Config = p.Config;
        return p.Record;
    }

    private static ContainerRecord Attach((ContainerRecord Record, V1.ContainerConfig Config) c)
    {
        c.Record.Config = c.Config;
        return c.Record;
    }
}
