using System.IO.Pipes;
using Csrun.Cri.Containers;
using Csrun.Cri.State;
using Csrun.Cri.V1;
using Csrun.Engine;
using ImageException = Csrun.Images.Content.ImageException;
using Csrun.Images.Bundles;
using Csrun.Images.Config;
using Csrun.Images.Registry;
using Csrun.Linux;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using ImageRecordStore = Csrun.Images.Store.ImageStore;
using OciProcess = Csrun.Oci.Process;

namespace Csrun.Cri.Services;

/// <summary>
/// Containers in a sandbox: a bundle from the image store (an overlay snapshot per container), created by its
/// monitor with `csrun create`, then started, signalled, inspected and deleted through the runtime library in
/// this process. ExecSync runs in process too, as a direct child of csrund.
/// </summary>
public sealed class ContainerService
{
    private const int MaxExecOutput = 16 << 20; // the kubelet's own cap for probe output
    private readonly CriOptions _options;
    private readonly CriStore _store;
    private readonly ImageRecordStore _images;
    private readonly ImageBundles _bundles;
    private readonly ContainerRuntime _runtime;
    private readonly ContainerMonitor _monitor;
    private readonly ContainerEvents _events;
    private readonly ILogger<ContainerService> _log;
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private readonly Timer _exitWatch;
    private readonly HashSet<string> _reportedExits = [];

    public ContainerService(CriOptions options, CriStore store, ContainerEvents events, ILogger<ContainerService> log)
    {
        _options = options;
        _store = store;
        _events = events;
        _log = log;
        _images = new ImageRecordStore(options.ImageRoot);
        _bundles = new ImageBundles(_images);
        _runtime = new ContainerRuntime(store.RuntimeRoot);
        _monitor = new ContainerMonitor(options.MonitorPath);
        // Containers that end on their own are noticed here (their monitors only write a file), for GetContainerEvents.
        foreach (var c in store.Containers)
            if (ContainerMonitor.ReadExit(store.ContainerDir(c.Id)) is not null) _reportedExits.Add(c.Id);
        _exitWatch = new Timer(_ => WatchExits(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    private void WatchExits()
    {
        if (!_events.HasSubscribers) return;
        foreach (var c in _store.Containers)
        {
            if (c.StartedAt == 0) continue;
            lock (_reportedExits)
            {
                if (_reportedExits.Contains(c.Id) || ContainerMonitor.ReadExit(_store.ContainerDir(c.Id)) is null) continue;
                _reportedExits.Add(c.Id);
            }
            _events.Publish(c, ContainerEventType.ContainerStoppedEvent);
        }
    }

    internal ContainerRuntime Runtime => _runtime;
    internal ContainerMonitor Monitor => _monitor;

    public async Task<CreateContainerResponse> CreateContainer(CreateContainerRequest request, ServerCallContext context)
    {
        CriErrors.Require(request.PodSandboxId, "pod_sandbox_id");
        var config = request.Config ?? throw CriErrors.InvalidArgument("config", "must be set");
        var meta = config.Metadata ?? throw CriErrors.InvalidArgument("config.metadata", "must be set");
        CriErrors.Require(meta.Name, "config.metadata.name");
        string imageName = CriErrors.Require(config.Image?.Image, "config.image.image");
        var pod = _store.FindPod(request.PodSandboxId) ?? throw CriErrors.NotFound("pod sandbox", request.PodSandboxId);
        if (!pod.Ready) throw CriErrors.FailedPrecondition($"pod sandbox {pod.Id} is not ready (stopped)");
        var image = _images.Find(imageName, PlatformSelector.Default)
            ?? throw CriErrors.NotFound("image", imageName);

        var record = new ContainerRecord
        {
            Id = CriErrors.NewId(), PodId = pod.Id, Config = config, ImageRef = image.Id.ToString(),
            ImageName = image.Name, CreatedAt = CriErrors.Now(),
        };
        string dir = _store.ContainerDir(record.Id);
        await _createLock.WaitAsync(context.CancellationToken);
        bool bundled = false, created = false;
        try
        {
            var same = _store.Containers.FirstOrDefault(c => c.PodId == pod.Id && c.Config.Metadata.Name == meta.Name && c.Config.Metadata.Attempt == meta.Attempt);
            if (same is not null)
                throw CriErrors.AlreadyExists($"container {meta.Name} (attempt {meta.Attempt}) exists already in pod {pod.Id}: {same.Id}");
            Directory.CreateDirectory(dir);

            var spec = ContainerSpecBuilder.Build(pod, config, _store.PodDir(pod.Id), record.Id, _options.SeccompRoot, TargetPid(config));
            var overrides = new RunOverrides
            {
                Entrypoint = config.Command.Count > 0 ? [.. config.Command] : null,
                Command = config.Args.Count > 0 ? [.. config.Args] : null,
                Env = [.. config.Envs.Select(e => $"{e.Key}={e.Value}")],
                WorkingDir = string.IsNullOrEmpty(config.WorkingDir) ? null : config.WorkingDir,
                User = ContainerSpecBuilder.User(config),
                Terminal = config.Tty,
            };
            spec.Process!.Env = [Csrun.Engine.Specs.DefaultSpec.DefaultPath];
            try
            {
                record.Bundle = _bundles.Create(record.Id, image, spec, overrides, finish: s =>
                {
                    ContainerSpecBuilder.AddSupplementalGroups(s, config);
                    s.Root!.Readonly = config.Linux?.SecurityContext?.ReadonlyRootfs == true;
                });
            }
            catch (ImageException e)
            {
                throw CriErrors.InvalidArgument("config", e.Message);
            }
            bundled = true;
            record.StopSignal = spec.Annotations?.GetValueOrDefault(Csrun.Images.Config.ImageSpec.StopSignalAnnotation);
            record.LogPath = LogPathOf(pod, config);

            _store.Save(record); // before the monitor: a daemon killed from here on still knows what to clean
            try
            {
                using var stdio = new MonitorStdio(config.Tty, config.Stdin);
                var launch = stdio.Launch(_monitor.RequirePath(), dir, record.LogPath.Length > 0 ? record.LogPath : "/dev/null", config.StdinOnce);
                record.Pid = _runtime.CreateMonitored(new CreateOptions(record.Id, record.Bundle), launch, out int monitorPid);
                record.MonitorPid = monitorPid;
            }
            catch (ContainerException e)
            {
                throw CriErrors.InvalidArgument("config", $"create container {meta.Name}: {e.Message}");
            }
            created = true;
            _store.Save(record);
            _events.Publish(record, ContainerEventType.ContainerCreatedEvent);
            return new CreateContainerResponse { ContainerId = record.Id };
        }
        catch
        {
            if (created) TryDeleteRuntime(record.Id);
            if (bundled) TryRelease(record.Id);
            _store.Forget(record);
            throw;
        }
        finally
        {
            _createLock.Release();
        }
    }

    public Task<StartContainerResponse> StartContainer(StartContainerRequest request, ServerCallContext context)
    {
        var c = Require(request.ContainerId);
        if (c.StartedAt != 0) throw CriErrors.FailedPrecondition($"container {c.Id} was started already");
        try
        {
            _runtime.Start(c.Id);
        }
        catch (ContainerException e)
        {
            throw CriErrors.FailedPrecondition($"start container {c.Id}: {e.Message}");
        }
        c.StartedAt = CriErrors.Now();
        _store.Save(c);
        _events.Publish(c, ContainerEventType.ContainerStartedEvent);
        return Task.FromResult(new StartContainerResponse());
    }

    public async Task<StopContainerResponse> StopContainer(StopContainerRequest request, ServerCallContext context)
    {
        var c = Require(request.ContainerId);
        await StopAsync(c, TimeSpan.FromSeconds(Math.Max(0, request.Timeout)), context.CancellationToken);
        return new StopContainerResponse();
    }

    public async Task<RemoveContainerResponse> RemoveContainer(RemoveContainerRequest request, ServerCallContext context)
    {
        CriErrors.Require(request.ContainerId, "container_id");
        var c = _store.FindContainer(request.ContainerId);
        if (c is null) return new RemoveContainerResponse(); // removing twice succeeds
        await RemoveAsync(c, context.CancellationToken);
        return new RemoveContainerResponse();
    }

    public Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context)
    {
        var f = request.Filter;
        var response = new ListContainersResponse();
        foreach (var c in _store.Containers.OrderBy(c => c.CreatedAt))
        {
            if (f is not null)
            {
                if (f.Id.Length > 0 && !c.Id.StartsWith(f.Id, StringComparison.Ordinal)) continue;
                if (f.PodSandboxId.Length > 0 && !c.PodId.StartsWith(f.PodSandboxId, StringComparison.Ordinal)) continue;
                if (!PodSandboxService.LabelsMatch(c.Config.Labels, f.LabelSelector)) continue;
            }
            var state = StateOf(c, out _);
            if (f?.State is not null && f.State.State != state) continue;
            response.Containers.Add(new Container
            {
                Id = c.Id, PodSandboxId = c.PodId, Metadata = c.Config.Metadata, Image = c.Config.Image, ImageRef = c.ImageRef,
                ImageId = c.ImageRef, State = state, CreatedAt = c.CreatedAt, Labels = { c.Config.Labels }, Annotations = { c.Config.Annotations },
            });
        }
        return Task.FromResult(response);
    }

    public Task StreamContainers(StreamContainersRequest request, IServerStreamWriter<StreamContainersResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamContainers));

    public Task<ContainerStatusResponse> ContainerStatus(ContainerStatusRequest request, ServerCallContext context)
    {
        var c = Require(request.ContainerId);
        var response = new ContainerStatusResponse { Status = StatusOf(c) };
        if (request.Verbose)
            response.Info["info"] = $"{{\"pid\":{c.Pid},\"monitorPid\":{c.MonitorPid},\"bundle\":\"{c.Bundle}\",\"runtimeRoot\":\"{_store.RuntimeRoot}\"}}";
        return Task.FromResult(response);
    }

    internal Csrun.Cri.V1.ContainerStatus StatusOf(ContainerRecord c)
    {
        var state = StateOf(c, out var exit);
        var s = new Csrun.Cri.V1.ContainerStatus
        {
            Id = c.Id, Metadata = c.Config.Metadata, State = state, CreatedAt = c.CreatedAt, StartedAt = c.StartedAt,
            Image = c.Config.Image, ImageRef = c.ImageRef, ImageId = c.ImageRef, Labels = { c.Config.Labels },
            Annotations = { c.Config.Annotations }, Mounts = { c.Config.Mounts }, LogPath = c.LogPath,
        };
        if (exit is not null)
        {
            s.FinishedAt = exit.FinishedAt;
            s.ExitCode = exit.Code;
            s.Reason = OomKilled(c) ? "OOMKilled" : exit.Code == 0 ? "Completed" : "Error";
        }
        else if (state == ContainerState.ContainerUnknown)
        {
            s.Reason = "Unknown";
            s.Message = "the container's monitor is gone and left no exit status";
        }
        return s;
    }

    internal ContainerState StateOf(ContainerRecord c, out ContainerExit? exit)
    {
        string dir = _store.ContainerDir(c.Id);
        exit = ContainerMonitor.ReadExit(dir);
        if (exit is not null) return ContainerState.ContainerExited;
        if (!ContainerMonitor.IsAlive(c.MonitorPid))
        {
            // The monitor may have written the file between the two looks.
            exit = ContainerMonitor.ReadExit(dir);
            return exit is not null ? ContainerState.ContainerExited : ContainerState.ContainerUnknown;
        }
        return c.StartedAt == 0 ? ContainerState.ContainerCreated : ContainerState.ContainerRunning;
    }

    private bool OomKilled(ContainerRecord c)
    {
        try { return _runtime.Stats(c.Id) is { OomKills: > 0 }; }
        catch (Exception e) when (e is ContainerException or Cgroups.CgroupException or IOException) { return false; }
    }

    public Task<UpdateContainerResourcesResponse> UpdateContainerResources(UpdateContainerResourcesRequest request, ServerCallContext context)
    {
        var c = Require(request.ContainerId);
        if (request.Linux is null) return Task.FromResult(new UpdateContainerResourcesResponse());
        var res = ContainerSpecBuilder.ResourcesForUpdate(request.Linux);
        try
        {
            _runtime.Update(c.Id, res);
        }
        catch (Exception e) when (e is ContainerException or Cgroups.CgroupException)
        {
            throw CriErrors.InvalidArgument("linux", $"update container {c.Id}: {e.Message}");
        }
        c.Config.Linux ??= new LinuxContainerConfig();
        c.Config.Linux.Resources = request.Linux;
        _store.Save(c);
        return Task.FromResult(new UpdateContainerResourcesResponse());
    }

    public async Task<ReopenContainerLogResponse> ReopenContainerLog(ReopenContainerLogRequest request, ServerCallContext context)
    {
        var c = Require(request.ContainerId);
        if (StateOf(c, out _) != ContainerState.ContainerRunning)
            throw CriErrors.FailedPrecondition($"container {c.Id} is not running: its log cannot be reopened");
        string reply = await ContainerMonitor.CommandAsync(_store.ContainerDir(c.Id), "reopen", context.CancellationToken);
        if (reply != "ok") throw CriErrors.Internal($"reopen log of {c.Id}: {reply}");
        return new ReopenContainerLogResponse();
    }

    public async Task<ExecSyncResponse> ExecSync(ExecSyncRequest request, ServerCallContext context)
    {
        var c = Require(request.ContainerId);
        if (request.Cmd.Count == 0) throw CriErrors.InvalidArgument("cmd", "must not be empty");
        if (StateOf(c, out _) != ContainerState.ContainerRunning)
            throw CriErrors.FailedPrecondition($"container {c.Id} is not running");
        var cmd = request.Cmd.ToList();
        using var stdout = new AnonymousPipeServerStream(PipeDirection.In);
        using var stderr = new AnonymousPipeServerStream(PipeDirection.In);
        using var devnull = File.OpenHandle("/dev/null");
        ExecProcess process;
        try
        {
            process = _runtime.StartExec(c.Id, p => ExecProcessSpec(p, cmd),
                new StdioFds((int)devnull.DangerousGetHandle(), (int)stdout.ClientSafePipeHandle.DangerousGetHandle(),
                    (int)stderr.ClientSafePipeHandle.DangerousGetHandle()));
        }
        catch (ContainerException e)
        {
            throw CriErrors.FailedPrecondition($"exec in {c.Id}: {e.Message}");
        }
        stdout.DisposeLocalCopyOfClientHandle();
        stderr.DisposeLocalCopyOfClientHandle();
        var outTask = ReadCapped(stdout);
        var errTask = ReadCapped(stderr);
        bool timedOut = false;
        using var timer = request.Timeout > 0 ? new CancellationTokenSource(TimeSpan.FromSeconds(request.Timeout)) : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, context.CancellationToken);
        using (linked.Token.Register(() => { timedOut = timer.IsCancellationRequested; process.Signal(9); }))
        {
            int code = await process.WaitAsync();
            byte[] o = await outTask, e = await errTask;
            if (timedOut)
                throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"command {string.Join(' ', cmd)} timed out after {request.Timeout}s"));
            return new ExecSyncResponse { ExitCode = code, Stdout = ByteString.CopyFrom(o), Stderr = ByteString.CopyFrom(e) };
        }
    }

    /// <summary>The container's process settings with another command: no terminal, same user, env and caps.</summary>
    internal static OciProcess ExecProcessSpec(OciProcess p, List<string> cmd)
    {
        p.Args = cmd;
        p.Terminal = false;
        p.ConsoleSize = null;
        return p;
    }

    private static async Task<byte[]> ReadCapped(Stream s)
    {
        var kept = new MemoryStream();
        var buffer = new byte[16384];
        int n;
        // Past the cap the rest is drained and dropped, so the process never blocks on a full pipe.
        while ((n = await s.ReadAsync(buffer)) > 0)
            if (kept.Length < MaxExecOutput) kept.Write(buffer, 0, (int)Math.Min(n, MaxExecOutput - kept.Length));
        return kept.ToArray();
    }

    public Task<CheckpointContainerResponse> CheckpointContainer(CheckpointContainerRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(CheckpointContainer));

    public Task GetContainerEvents(GetEventsRequest request, IServerStreamWriter<ContainerEventResponse> responseStream, ServerCallContext context) =>
        _events.StreamAsync(responseStream, context);

    /// <summary>The init pid of the container whose pid namespace a TARGET container joins.</summary>
    private int TargetPid(ContainerConfig config)
    {
        var ns = config.Linux?.SecurityContext?.NamespaceOptions;
        if (ns?.Pid != NamespaceMode.Target) return 0;
        const string field = "linux.security_context.namespace_options.target_id";
        var target = _store.FindContainer(CriErrors.Require(ns.TargetId, field)) ?? throw CriErrors.NotFound("container", ns.TargetId);
        if (StateOf(target, out _) != ContainerState.ContainerRunning) throw CriErrors.FailedPrecondition($"{field}: container {target.Id} is not running");
        return target.Pid;
    }

    internal ContainerRecord Require(string id)
    {
        CriErrors.Require(id, "container_id");
        return _store.FindContainer(id) ?? throw CriErrors.NotFound("container", id);
    }

    /// <summary>The stop signal (the image's, else SIGTERM), then SIGKILL to every process once the grace
    /// period is over; returns when the monitor has recorded the exit.</summary>
    internal async Task StopAsync(ContainerRecord c, TimeSpan grace, CancellationToken cancellationToken)
    {
        string dir = _store.ContainerDir(c.Id);
        var state = StateOf(c, out _);
        if (state is ContainerState.ContainerExited or ContainerState.ContainerUnknown) return;
        if (state == ContainerState.ContainerRunning && grace > TimeSpan.Zero)
        {
            int signal = c.StopSignal is { Length: > 0 } name && Signals.TryParse(name, out int s) ? s : 15;
            Signal(c.Id, signal, all: false);
            if (await ContainerMonitor.WaitExitAsync(dir, grace, cancellationToken)) return;
        }
        Signal(c.Id, 9, all: true);
        if (!await ContainerMonitor.WaitExitAsync(dir, TimeSpan.FromSeconds(30), cancellationToken) && ContainerMonitor.IsAlive(c.MonitorPid))
            throw CriErrors.Internal($"container {c.Id} did not exit after SIGKILL");
        lock (_reportedExits)
            if (!_reportedExits.Add(c.Id)) return;
        _events.Publish(c, ContainerEventType.ContainerStoppedEvent);
    }

    private void Signal(string id, int signal, bool all)
    {
        try { _runtime.Kill(id, signal, all); }
        catch (ContainerException e) { _log.LogDebug("signal {Signal} to {Id}: {Error}", signal, id, e.Message); }
    }

    internal async Task RemoveAsync(ContainerRecord c, CancellationToken cancellationToken)
    {
        await StopAsync(c, TimeSpan.Zero, cancellationToken);
        TryDeleteRuntime(c.Id);
        _bundles.Release(c.Id);
        _store.Forget(c);
        lock (_reportedExits) _reportedExits.Remove(c.Id);
        _events.Publish(c, ContainerEventType.ContainerDeletedEvent);
    }

    internal async Task StopAllAsync(string podId, CancellationToken cancellationToken)
    {
        foreach (var c in _store.Containers.Where(c => c.PodId == podId).ToList())
            await StopAsync(c, TimeSpan.Zero, cancellationToken);
    }

    internal async Task RemoveAllAsync(string podId, CancellationToken cancellationToken)
    {
        foreach (var c in _store.Containers.Where(c => c.PodId == podId).ToList())
            await RemoveAsync(c, cancellationToken);
    }

    private void TryDeleteRuntime(string id)
    {
        try { _runtime.Delete(id, force: true); }
        catch (ContainerException e) { _log.LogDebug("delete {Id}: {Error}", id, e.Message); }
    }

    private void TryRelease(string id)
    {
        try { _bundles.Release(id); }
        catch (Exception e) { _log.LogWarning("release bundle of {Id}: {Error}", id, e.Message); }
    }

    private static string LogPathOf(PodRecord pod, ContainerConfig config)
    {
        if (string.IsNullOrEmpty(config.LogPath) || string.IsNullOrEmpty(pod.Config.LogDirectory)) return "";
        if (Path.IsPathRooted(config.LogPath)) throw CriErrors.InvalidArgument("config.log_path", $"\"{config.LogPath}\" must be relative to the pod's log directory");
        string path = Path.GetFullPath(Path.Combine(pod.Config.LogDirectory, config.LogPath));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }
}
