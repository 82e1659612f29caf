using Csrun.Cgroups;
using Csrun.Cni;
using Csrun.Cri.Pods;
using Csrun.Cri.State;
using Csrun.Cri.V1;
using Csrun.Linux;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Csrun.Cri.Services;

/// <summary>
/// Pod sandboxes without a pause process: the network, IPC and UTS namespaces are held by bind-mounted files
/// (the pod's directory and the netns directory), the hostname is set in the UTS namespace, pod sysctls are
/// written inside the namespaces, the network comes from CNI, and the pod cgroup sits under /csrun. A failed
/// RunPodSandbox undoes every step it took.
/// </summary>
public sealed class PodSandboxService(CriOptions options, CriStore store, NetworkNamespaces netns, ContainerService containers,
    ILogger<PodSandboxService> log)
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    public async Task<RunPodSandboxResponse> RunPodSandbox(RunPodSandboxRequest request, ServerCallContext context)
    {
        var config = request.Config ?? throw CriErrors.InvalidArgument("config", "must be set");
        var meta = config.Metadata ?? throw CriErrors.InvalidArgument("config.metadata", "must be set");
        CriErrors.Require(meta.Name, "config.metadata.name");
        CriErrors.Require(meta.Uid, "config.metadata.uid");
        CriErrors.Require(meta.Namespace, "config.metadata.namespace");
        if (request.RuntimeHandler is { Length: > 0 } handler && handler != "csrun")
            throw CriErrors.InvalidArgument("runtime_handler", $"\"{handler}\": csrund has one handler, \"csrun\" (or empty)");
        var nsOptions = config.Linux?.SecurityContext?.NamespaceOptions ?? new NamespaceOption();
        if (nsOptions.Pid == NamespaceMode.Target)
            throw CriErrors.InvalidArgument("config.linux.security_context.namespace_options.pid", "TARGET applies to containers, not to a pod");
        bool hostNetwork = nsOptions.Network == NamespaceMode.Node, hostIpc = nsOptions.Ipc == NamespaceMode.Node;
        var (netSysctls, ipcSysctls) = SplitSysctls(config.Linux?.Sysctls, hostNetwork, hostIpc);
        // As containerd: no hostname asked for means the node's.
        string hostname = hostNetwork || string.IsNullOrEmpty(config.Hostname) ? Environment.MachineName : config.Hostname;
        if (System.Text.Encoding.UTF8.GetByteCount(hostname) > 64)
            throw CriErrors.InvalidArgument("config.hostname", $"\"{hostname}\" is longer than 64 bytes");
        if (config.PortMappings.Any(p => p.HostPort < 0 || p.HostPort > 65535 || p.ContainerPort <= 0 || p.ContainerPort > 65535))
            throw CriErrors.InvalidArgument("config.port_mappings", "ports must be within 1-65535");

        await _lock.WaitAsync(context.CancellationToken);
        var pod = new PodRecord { Id = CriErrors.NewId(), Config = config };
        string dir = store.PodDir(pod.Id);
        var undo = new Stack<Action>();
        try
        {
            var same = store.Pods.FirstOrDefault(p => p.Config.Metadata.Name == meta.Name && p.Config.Metadata.Namespace == meta.Namespace
                && p.Config.Metadata.Uid == meta.Uid && p.Config.Metadata.Attempt == meta.Attempt);
            if (same is not null)
                throw CriErrors.AlreadyExists($"pod sandbox {meta.Namespace}/{meta.Name} (uid {meta.Uid}, attempt {meta.Attempt}) exists already: {same.Id}");

            Directory.CreateDirectory(dir);
            undo.Push(() => Directory.Delete(dir, recursive: true));
            if (!hostNetwork)
            {
                pod.UtsPath = Path.Combine(dir, "uts");
                Netns.Create(pod.UtsPath, CloneFlags.CLONE_NEWUTS, () => Netns.SetHostname(hostname));
                undo.Push(() => Netns.Remove(pod.UtsPath));
            }
            if (!hostIpc)
            {
                pod.IpcPath = Path.Combine(dir, "ipc");
                Netns.Create(pod.IpcPath, CloneFlags.CLONE_NEWIPC, () => WriteSysctls(ipcSysctls));
                undo.Push(() => Netns.Remove(pod.IpcPath));
                string shm = Path.Combine(dir, "shm");
                PodFiles.MountShm(shm);
                undo.Push(() => PodFiles.Unmount(shm));
            }
            if (!hostNetwork)
            {
                pod.NetnsPath = netns.Create(pod.Id);
                undo.Push(() => netns.Remove(pod.Id));
                if (netSysctls.Count > 0) Netns.RunIn(pod.NetnsPath, CloneFlags.CLONE_NEWNET, () => WriteSysctls(netSysctls));
            }

            pod.CgroupPath = PodCgroupPath(config.Linux?.CgroupParent, pod.Id);
            using (var cgroup = CgroupManager.Create(CgroupLayout.Host, pod.CgroupPath))
            {
                // Registered first: a Create that fails part-way has made some hierarchies' directories already.
                undo.Push(() => DestroyCgroup(pod.CgroupPath));
                cgroup.Create();
                if (config.Linux?.Resources is { } res)
                    cgroup.Set(Containers.ContainerSpecBuilder.PodResources(res, config.Linux.Overhead));
                if (nsOptions.Pid == NamespaceMode.Pod)
                {
                    // A pid namespace dies with its pid 1: a pause process holds the pod's, in the pod cgroup.
                    pod.PausePid = await containers.Monitor.StartPauseAsync(context.CancellationToken);
                    undo.Push(() => Containers.ContainerMonitor.KillPause(pod.PausePid));
                    cgroup.Apply(pod.PausePid);
                    pod.PidPath = Path.Combine(dir, "pid");
                    Netns.Hold($"/proc/{pod.PausePid}/ns/pid", pod.PidPath);
                    undo.Push(() => Netns.Remove(pod.PidPath));
                }
            }

            if (!hostNetwork)
            {
                var network = LoadNetwork();
                var attachment = Attachment(pod);
                var result = await network.AddAsync(attachment, context.CancellationToken);
                undo.Push(() => network.DelAsync(attachment, result).GetAwaiter().GetResult());
                pod.CniNetwork = network.Name;
                pod.CniResult = result.ToString();
                pod.NetworkAttached = true;
                pod.Ip = result.PrimaryIp() ?? result.PrimaryIp(ipv6: true);
                if (pod.Ip is not null)
                    pod.AdditionalIps = [.. result.Ips.Select(i => i.Address.Split('/')[0]).Where(a => a != pod.Ip)];
            }
            PodFiles.Write(dir, hostname, config.DnsConfig, pod.Ip);
            pod.Ready = true;
            pod.CreatedAt = CriErrors.Now();
            store.Save(pod);
            return new RunPodSandboxResponse { PodSandboxId = pod.Id };
        }
        catch (Exception e)
        {
            while (undo.TryPop(out var step))
            {
                try { step(); }
                catch (Exception cleanup) { log.LogWarning("pod {Id}: undoing a failed RunPodSandbox: {Error}", pod.Id, cleanup.Message); }
            }
            throw e switch
            {
                RpcException => e,
                CniException or CgroupException => CriErrors.Internal($"run pod sandbox {meta.Namespace}/{meta.Name}: {e.Message}"),
                _ => e,
            };
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<StopPodSandboxResponse> StopPodSandbox(StopPodSandboxRequest request, ServerCallContext context)
    {
        CriErrors.Require(request.PodSandboxId, "pod_sandbox_id");
        // Idempotent: stopping a pod that is gone already succeeds.
        var pod = store.FindPod(request.PodSandboxId);
        if (pod is null) return new StopPodSandboxResponse();
        await containers.StopAllAsync(pod.Id, context.CancellationToken);
        await _lock.WaitAsync(context.CancellationToken);
        try
        {
            await ReleaseNamespacesAsync(pod);
            pod.Ready = false;
            store.Save(pod);
        }
        finally
        {
            _lock.Release();
        }
        return new StopPodSandboxResponse();
    }

    public async Task<RemovePodSandboxResponse> RemovePodSandbox(RemovePodSandboxRequest request, ServerCallContext context)
    {
        CriErrors.Require(request.PodSandboxId, "pod_sandbox_id");
        var pod = store.FindPod(request.PodSandboxId);
        if (pod is null) return new RemovePodSandboxResponse();
        await containers.RemoveAllAsync(pod.Id, context.CancellationToken);
        await _lock.WaitAsync(context.CancellationToken);
        try
        {
            await ReleaseNamespacesAsync(pod);
            DestroyCgroup(pod.CgroupPath);
            store.Forget(pod);
        }
        finally
        {
            _lock.Release();
        }
        return new RemovePodSandboxResponse();
    }

    public async Task<PodSandboxStatusResponse> PodSandboxStatus(PodSandboxStatusRequest request, ServerCallContext context)
    {
        CriErrors.Require(request.PodSandboxId, "pod_sandbox_id");
        var pod = store.FindPod(request.PodSandboxId) ?? throw CriErrors.NotFound("pod sandbox", request.PodSandboxId);
        var response = new PodSandboxStatusResponse { Status = StatusOf(pod), Timestamp = CriErrors.Now() };
        if (request.Verbose)
        {
            response.Info["info"] = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string?>
            {
                ["netns"] = pod.NetnsPath, ["ipc"] = pod.IpcPath, ["uts"] = pod.UtsPath, ["cgroup"] = pod.CgroupPath,
                ["cniNetwork"] = pod.CniNetwork, ["cniResult"] = pod.CniResult,
                ["cniCheck"] = await CheckNetworkAsync(pod, context.CancellationToken),
            }, PodInfoJson.Default.DictionaryStringString);
        }
        return response;
    }

    /// <summary>CNI CHECK of an attached pod against its ADD result (verbose status): "ok", the plugins' error,
    /// or null when there is nothing to check.</summary>
    private async Task<string?> CheckNetworkAsync(PodRecord pod, CancellationToken cancellationToken)
    {
        if (!pod.NetworkAttached || pod.CniResult is null || pod.NetnsPath is null) return null;
        try
        {
            await LoadNetwork().CheckAsync(Attachment(pod), CniResult.Parse(pod.CniResult), cancellationToken);
            return "ok";
        }
        catch (Exception e) when (e is CniException or RpcException)
        {
            return e.Message;
        }
    }

    public Task<ListPodSandboxResponse> ListPodSandbox(ListPodSandboxRequest request, ServerCallContext context)
    {
        var f = request.Filter;
        var response = new ListPodSandboxResponse();
        foreach (var pod in store.Pods.OrderBy(p => p.CreatedAt))
        {
            if (f is not null)
            {
                if (f.Id.Length > 0 && !pod.Id.StartsWith(f.Id, StringComparison.Ordinal)) continue;
                if (f.State is not null && f.State.State != StateOf(pod)) continue;
                if (!LabelsMatch(pod.Config.Labels, f.LabelSelector)) continue;
            }
            var s = StatusOf(pod);
            response.Items.Add(new PodSandbox
            {
                Id = pod.Id, Metadata = s.Metadata, State = s.State, CreatedAt = s.CreatedAt, Labels = { s.Labels },
                Annotations = { s.Annotations }, RuntimeHandler = s.RuntimeHandler,
            });
        }
        return Task.FromResult(response);
    }

    public Task StreamPodSandboxes(StreamPodSandboxesRequest request, IServerStreamWriter<StreamPodSandboxesResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamPodSandboxes));

    public Task<UpdatePodSandboxResourcesResponse> UpdatePodSandboxResources(UpdatePodSandboxResourcesRequest request, ServerCallContext context)
    {
        CriErrors.Require(request.PodSandboxId, "pod_sandbox_id");
        var pod = store.FindPod(request.PodSandboxId) ?? throw CriErrors.NotFound("pod sandbox", request.PodSandboxId);
        if (request.Resources is { } res)
        {
            using var cgroup = CgroupManager.Create(CgroupLayout.Host, pod.CgroupPath);
            try { cgroup.Set(Containers.ContainerSpecBuilder.PodResources(res, request.Overhead)); }
            catch (CgroupException e) { throw CriErrors.InvalidArgument("resources", e.Message); }
        }
        return Task.FromResult(new UpdatePodSandboxResourcesResponse());
    }

    internal static bool LabelsMatch(IDictionary<string, string> labels, IDictionary<string, string> selector) =>
        selector.All(kv => labels.TryGetValue(kv.Key, out string? v) && v == kv.Value);

    private static PodSandboxState StateOf(PodRecord pod) => pod.Ready ? PodSandboxState.SandboxReady : PodSandboxState.SandboxNotready;

    private static Csrun.Cri.V1.PodSandboxStatus StatusOf(PodRecord pod)
    {
        var ns = pod.Config.Linux?.SecurityContext?.NamespaceOptions ?? new NamespaceOption();
        var status = new Csrun.Cri.V1.PodSandboxStatus
        {
            Id = pod.Id,
            Metadata = pod.Config.Metadata,
            State = StateOf(pod),
            CreatedAt = pod.CreatedAt,
            Linux = new LinuxPodSandboxStatus { Namespaces = new Namespace { Options = ns } },
            Labels = { pod.Config.Labels },
            Annotations = { pod.Config.Annotations },
            RuntimeHandler = "",
        };
        if (pod.Ip is not null && pod.Ready)
        {
            status.Network = new PodSandboxNetworkStatus { Ip = pod.Ip };
            foreach (string ip in pod.AdditionalIps) status.Network.AdditionalIps.Add(new PodIP { Ip = ip });
        }
        return status;
    }

    /// <summary>CNI DEL, then the namespace files and the pod's shm; each step is skipped once done, so a stop
    /// that failed halfway (or a daemon killed during it) is finished by the next call.</summary>
    private async Task ReleaseNamespacesAsync(PodRecord pod)
    {
        if (pod.NetworkAttached && pod.NetnsPath is not null)
        {
            var network = LoadNetwork();
            CniResult? previous = pod.CniResult is null ? null : CniResult.Parse(pod.CniResult);
            await network.DelAsync(Attachment(pod), previous);
            pod.NetworkAttached = false;
            store.Save(pod);
        }
        if (pod.NetnsPath is not null) netns.Remove(pod.Id);
        string dir = store.PodDir(pod.Id);
        PodFiles.Unmount(Path.Combine(dir, "shm"));
        if (pod.IpcPath is not null) Netns.Remove(pod.IpcPath);
        if (pod.UtsPath is not null) Netns.Remove(pod.UtsPath);
        if (pod.PidPath is not null)
        {
            Containers.ContainerMonitor.KillPause(pod.PausePid);
            Netns.Remove(pod.PidPath);
        }
    }

    private CniNetwork LoadNetwork()
    {
        var config = CniConfigList.LoadFirst(options.CniConfigDirs)
            ?? throw CriErrors.FailedPrecondition($"no CNI network config in {string.Join(", ", options.CniConfigDirs)}: pods need one unless they use the host network");
        return new CniNetwork(config, options.CniPluginDirs);
    }

    private static CniAttachment Attachment(PodRecord pod)
    {
        var meta = pod.Config.Metadata;
        return new CniAttachment(pod.Id, pod.NetnsPath!)
        {
            Args = CniAttachment.PodArgs(meta.Namespace, meta.Name, pod.Id, meta.Uid),
            PortMappings = [.. pod.Config.PortMappings.Where(p => p.HostPort > 0).Select(p => new CniPortMapping(p.HostPort, p.ContainerPort,
                p.Protocol.ToString().ToLowerInvariant(), string.IsNullOrEmpty(p.HostIp) ? null : p.HostIp))],
        };
    }

    /// <summary>The kubelet's cgroup parent (cgroupfs driver), placed under csrun's own subtree.</summary>
    internal static string PodCgroupPath(string? parent, string podId)
    {
        string rel = string.IsNullOrEmpty(parent) ? $"pods/{podId}" : parent.Trim('/');
        if (rel.Length == 0 || rel.Split('/').Any(part => part is ".." or "."))
            throw CriErrors.InvalidArgument("config.linux.cgroup_parent", $"\"{parent}\" is not a plain cgroup path");
        if (rel.EndsWith(".slice", StringComparison.Ordinal))
            throw CriErrors.InvalidArgument("config.linux.cgroup_parent", $"\"{parent}\" is a systemd slice: csrund uses the cgroupfs driver");
        return $"{CgroupPaths.Prefix}/{rel}";
    }

    private void DestroyCgroup(string path)
    {
        if (string.IsNullOrEmpty(path)) return;
        using var cgroup = CgroupManager.Create(CgroupLayout.Host, path);
        try { cgroup.Destroy(); }
        catch (CgroupException e) { log.LogWarning("pod cgroup {Path}: {Error}", path, e.Message); }
    }

    // IPC sysctls that are per IPC namespace; net.* are per network namespace. Others would change the host.
    private static readonly string[] IpcSysctlPrefixes = ["kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue."];

    private static (Dictionary<string, string> Net, Dictionary<string, string> Ipc) SplitSysctls(IDictionary<string, string>? sysctls, bool hostNetwork, bool hostIpc)
    {
        var net = new Dictionary<string, string>();
        var ipc = new Dictionary<string, string>();
        foreach (var (raw, value) in sysctls ?? new Dictionary<string, string>())
        {
            string key = raw.Replace('/', '.');
            string field = $"config.linux.sysctls[{raw}]";
            if (key.Contains("..") || key.StartsWith('.')) throw CriErrors.InvalidArgument(field, "not a sysctl name");
            if (key.StartsWith("net.", StringComparison.Ordinal))
            {
                if (hostNetwork) throw CriErrors.InvalidArgument(field, "a pod on the host network cannot set network sysctls");
                net[key] = value;
            }
            else if (IpcSysctlPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal)))
            {
                if (hostIpc) throw CriErrors.InvalidArgument(field, "a pod in the host IPC namespace cannot set IPC sysctls");
                ipc[key] = value;
            }
            else throw CriErrors.InvalidArgument(field, "not a namespaced sysctl (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)");
        }
        return (net, ipc);
    }

    private static void WriteSysctls(Dictionary<string, string> sysctls)
    {
        foreach (var (key, value) in sysctls)
        {
            string path = "/proc/sys/" + key.Replace('.', '/');
            try { File.WriteAllText(path, value); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw CriErrors.InvalidArgument($"config.linux.sysctls[{key}]", $"{path}: {e.Message}");
            }
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string?>))]
internal sealed partial class PodInfoJson : System.Text.Json.Serialization.JsonSerializerContext;
