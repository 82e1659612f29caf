using System.Collections.Concurrent;
using Csrun.Cgroups;
using Csrun.Cri.State;
using Csrun.Cri.V1;
using Csrun.Linux;
using Grpc.Core;
using ImageRecordStore = Csrun.Images.Store.ImageStore;

namespace Csrun.Cri.Services;

/// <summary>
/// CPU, memory and writable-layer usage per container, and per pod its cgroup, network (read inside the pod's
/// network namespace) and process count. usage_nano_cores is the rate since the previous sample of the same
/// cgroup, as containerd computes it. The metrics RPCs answer Unimplemented, as the CRI allows.
/// </summary>
public sealed class StatsService(CriOptions options, CriStore store, ContainerService containers)
{
    private readonly ImageRecordStore _images = new(options.ImageRoot);
    private readonly ConcurrentDictionary<string, (long At, ulong Usage)> _lastCpu = new(StringComparer.Ordinal);

    public Task<ContainerStatsResponse> ContainerStats(ContainerStatsRequest request, ServerCallContext context)
    {
        var c = containers.Require(request.ContainerId);
        return Task.FromResult(new ContainerStatsResponse { Stats = StatsOf(c) });
    }

    public Task<ListContainerStatsResponse> ListContainerStats(ListContainerStatsRequest request, ServerCallContext context)
    {
        var response = new ListContainerStatsResponse();
        foreach (var c in Running(request.Filter?.Id, request.Filter?.PodSandboxId, request.Filter?.LabelSelector))
            response.Stats.Add(StatsOf(c));
        return Task.FromResult(response);
    }

    public Task StreamContainerStats(StreamContainerStatsRequest request, IServerStreamWriter<StreamContainerStatsResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamContainerStats));

    public Task<PodSandboxStatsResponse> PodSandboxStats(PodSandboxStatsRequest request, ServerCallContext context)
    {
        CriErrors.Require(request.PodSandboxId, "pod_sandbox_id");
        var pod = store.FindPod(request.PodSandboxId) ?? throw CriErrors.NotFound("pod sandbox", request.PodSandboxId);
        return Task.FromResult(new PodSandboxStatsResponse { Stats = StatsOf(pod) });
    }

    public Task<ListPodSandboxStatsResponse> ListPodSandboxStats(ListPodSandboxStatsRequest request, ServerCallContext context)
    {
        var f = request.Filter;
        var response = new ListPodSandboxStatsResponse();
        foreach (var pod in store.Pods.Where(p => p.Ready))
        {
            if (f is not null && (f.Id.Length > 0 && !pod.Id.StartsWith(f.Id, StringComparison.Ordinal) || !PodSandboxService.LabelsMatch(pod.Config.Labels, f.LabelSelector)))
                continue;
            response.Stats.Add(StatsOf(pod));
        }
        return Task.FromResult(response);
    }

    public Task StreamPodSandboxStats(StreamPodSandboxStatsRequest request, IServerStreamWriter<StreamPodSandboxStatsResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamPodSandboxStats));

    public Task<ListMetricDescriptorsResponse> ListMetricDescriptors(ListMetricDescriptorsRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ListMetricDescriptors));

    public Task<ListPodSandboxMetricsResponse> ListPodSandboxMetrics(ListPodSandboxMetricsRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ListPodSandboxMetrics));

    public Task StreamPodSandboxMetrics(StreamPodSandboxMetricsRequest request, IServerStreamWriter<StreamPodSandboxMetricsResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamPodSandboxMetrics));

    private IEnumerable<ContainerRecord> Running(string? id, string? podId, IDictionary<string, string>? labels) =>
        store.Containers.Where(c =>
            (string.IsNullOrEmpty(id) || c.Id.StartsWith(id, StringComparison.Ordinal))
            && (string.IsNullOrEmpty(podId) || c.PodId.StartsWith(podId, StringComparison.Ordinal))
            && (labels is null || PodSandboxService.LabelsMatch(c.Config.Labels, labels))
            && containers.StateOf(c, out _) == ContainerState.ContainerRunning);

    private ContainerStats StatsOf(ContainerRecord c)
    {
        long now = CriErrors.Now();
        var stats = new ContainerStats
        {
            Attributes = new ContainerAttributes { Id = c.Id, Metadata = c.Config.Metadata, Labels = { c.Config.Labels }, Annotations = { c.Config.Annotations } },
        };
        var pod = store.FindPod(c.PodId);
        if (pod is not null)
        {
            using var cgroup = CgroupManager.Create(CgroupLayout.Host, $"{pod.CgroupPath}/{c.Id}");
            var s = cgroup.GetStats();
            stats.Cpu = Cpu(c.Id, s, now);
            stats.Memory = Memory(s, now);
            stats.Swap = new SwapUsage { Timestamp = now, SwapUsageBytes = U(s.SwapUsageBytes) };
        }
        if (_images.Snapshots.Exists(c.Id))
        {
            var (bytes, inodes) = _images.Snapshots.Usage(c.Id);
            stats.WritableLayer = new FilesystemUsage
            {
                Timestamp = now, FsId = new FilesystemIdentifier { Mountpoint = _images.Snapshots.UpperDir(c.Id) },
                UsedBytes = new UInt64Value { Value = (ulong)bytes }, InodesUsed = new UInt64Value { Value = (ulong)inodes },
            };
        }
        return stats;
    }

    private PodSandboxStats StatsOf(PodRecord pod)
    {
        long now = CriErrors.Now();
        using var cgroup = CgroupManager.Create(CgroupLayout.Host, pod.CgroupPath);
        var s = cgroup.GetStats();
        var linux = new LinuxPodSandboxStats
        {
            Cpu = Cpu("pod:" + pod.Id, s, now),
            Memory = Memory(s, now),
            Process = new ProcessUsage { Timestamp = now, ProcessCount = U(s.PidsCurrent ?? (ulong)cgroup.GetPids().Count) },
        };
        if (pod.NetnsPath is not null && pod.Ready && File.Exists(pod.NetnsPath))
            linux.Network = Network(pod.NetnsPath, now);
        foreach (var c in Running(null, pod.Id, null))
            linux.Containers.Add(StatsOf(c));
        return new PodSandboxStats
        {
            Attributes = new PodSandboxAttributes { Id = pod.Id, Metadata = pod.Config.Metadata, Labels = { pod.Config.Labels }, Annotations = { pod.Config.Annotations } },
            Linux = linux,
        };
    }

    private CpuUsage Cpu(string key, CgroupStats s, long now)
    {
        var cpu = new CpuUsage { Timestamp = now, UsageCoreNanoSeconds = U(s.CpuUsageNanoseconds) };
        if (s.CpuUsageNanoseconds is { } usage)
        {
            if (_lastCpu.TryGetValue(key, out var last) && now > last.At && usage >= last.Usage)
                cpu.UsageNanoCores = new UInt64Value { Value = (ulong)((double)(usage - last.Usage) / (now - last.At) * 1e9) };
            _lastCpu[key] = (now, usage);
        }
        return cpu;
    }

    private static MemoryUsage Memory(CgroupStats s, long now)
    {
        ulong? available = s.MemoryLimitBytes is { } limit && s.WorkingSetBytes is { } ws ? limit - Math.Min(limit, ws) : null;
        return new MemoryUsage
        {
            Timestamp = now, WorkingSetBytes = U(s.WorkingSetBytes), UsageBytes = U(s.MemoryUsageBytes), AvailableBytes = U(available),
            RssBytes = U(s.MemoryRssBytes), PageFaults = U(s.PageFaults), MajorPageFaults = U(s.MajorPageFaults),
        };
    }

    /// <summary>Interface counters as the pod sees them: /proc/net/dev read by a thread inside its namespace.</summary>
    private static NetworkUsage Network(string netns, long now)
    {
        var usage = new NetworkUsage { Timestamp = now };
        string[] lines = [];
        Netns.RunIn(netns, CloneFlags.CLONE_NEWNET, () => lines = File.ReadAllLines("/proc/thread-self/net/dev"));
        foreach (string line in lines.Skip(2))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            string name = line[..colon].Trim();
            var f = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (name == "lo" || f.Length < 16) continue;
            var nic = new NetworkInterfaceUsage
            {
                Name = name, RxBytes = U(ulong.Parse(f[0])), RxErrors = U(ulong.Parse(f[2])), TxBytes = U(ulong.Parse(f[8])), TxErrors = U(ulong.Parse(f[10])),
            };
            if (name == "eth0") usage.DefaultInterface = nic;
            usage.Interfaces.Add(nic);
        }
        return usage;
    }

    private static UInt64Value? U(ulong? v) => v is { } x ? new UInt64Value { Value = x } : null;
}
