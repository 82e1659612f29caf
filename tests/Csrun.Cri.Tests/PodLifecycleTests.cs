using System.Text;
using Grpc.Core;
using V1 = Csrun.Cri.V1;

namespace Csrun.Cri.Tests;

/// <summary>
/// Pods and containers end to end through csrund's socket: real namespaces, CNI bridge, monitors, csrun,
/// busybox from the image store. Each test has its own daemon, network and directories (PodTestBed).
/// </summary>
public sealed class PodLifecycleTests : IAsyncLifetime
{
    private PodTestBed _bed = null!;

    public async Task InitializeAsync() => _bed = await PodTestBed.StartAsync();

    public async Task DisposeAsync()
    {
        if (_bed is not null) await _bed.DisposeAsync();
    }

    private V1.RuntimeService.RuntimeServiceClient Rt => _bed.Runtime;

    private async Task<V1.ExecSyncResponse> Exec(string id, params string[] cmd) =>
        await Rt.ExecSyncAsync(new V1.ExecSyncRequest { ContainerId = id, Cmd = { cmd }, Timeout = 10 });

    [Fact]
    public async Task Pod_Container_Exec_Logs_Stop_Remove_LeaveNothing()
    {
        var podConfig = PodTestBed.PodConfig("web", c =>
        {
            c.DnsConfig = new V1.DNSConfig { Servers = { "10.96.0.10" }, Searches = { "tests.svc.cluster.local" }, Options = { "ndots:5" } };
            c.Linux = new V1.LinuxPodSandboxConfig { Sysctls = { ["net.ipv4.ip_unprivileged_port_start"] = "80", ["kernel.shmmni"] = "2048" } };
        }, logDir: _bed.Logs.Path);
        string pod = await _bed.RunPodAsync(podConfig);

        var status = (await Rt.PodSandboxStatusAsync(new V1.PodSandboxStatusRequest { PodSandboxId = pod })).Status;
        Assert.Equal(V1.PodSandboxState.SandboxReady, status.State);
        Assert.StartsWith(_bed.Subnet + ".", status.Network.Ip);
        Assert.Equal("web", status.Metadata.Name);
        var listed = (await Rt.ListPodSandboxAsync(new V1.ListPodSandboxRequest { Filter = new V1.PodSandboxFilter { LabelSelector = { ["app"] = "web" } } })).Items;
        Assert.Equal(pod, Assert.Single(listed).Id);
        Assert.Empty((await Rt.ListPodSandboxAsync(new V1.ListPodSandboxRequest { Filter = new V1.PodSandboxFilter { LabelSelector = { ["app"] = "db" } } })).Items);
        string netns = Path.Combine(_bed.Dir.Path, "netns", pod);
        Assert.True(File.Exists(netns));
        // Verbose status runs CNI CHECK against the saved ADD result.
        Assert.Contains("\"cniCheck\":\"ok\"", (await Rt.PodSandboxStatusAsync(new V1.PodSandboxStatusRequest { PodSandboxId = pod, Verbose = true })).Info["info"]);

        var config = PodTestBed.ContainerConfig("app", "sh", "-c", "echo started; echo to-stderr >&2; exec sleep 1000");
        config.Envs.Add(new V1.KeyValue { Key = "GREETING", Value = "hi" });
        string id = await _bed.StartContainerAsync(pod, podConfig, config);
        var cs = (await Rt.ContainerStatusAsync(new V1.ContainerStatusRequest { ContainerId = id })).Status;
        Assert.Equal(V1.ContainerState.ContainerRunning, cs.State);
        Assert.True(cs.StartedAt >= cs.CreatedAt && cs.CreatedAt > 0);
        Assert.StartsWith("sha256:", cs.ImageRef);
        Assert.Equal(Path.Combine(_bed.Logs.Path, "app/0.log"), cs.LogPath);

        // The pod's namespaces: hostname, IP, DNS, sysctls; the container's env.
        Assert.Equal("web\n", (await Exec(id, "hostname")).Stdout.ToStringUtf8());
        Assert.Contains($"inet {status.Network.Ip}/24", (await Exec(id, "ip", "-4", "addr", "show", "eth0")).Stdout.ToStringUtf8());
        Assert.Equal("search tests.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n", (await Exec(id, "cat", "/etc/resolv.conf")).Stdout.ToStringUtf8());
        Assert.Equal("80\n", (await Exec(id, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start")).Stdout.ToStringUtf8());
        Assert.Equal("2048\n", (await Exec(id, "cat", "/proc/sys/kernel/shmmni")).Stdout.ToStringUtf8());
        Assert.Equal("hi\n", (await Exec(id, "sh", "-c", "echo $GREETING")).Stdout.ToStringUtf8());
        var failed = await Exec(id, "sh", "-c", "echo bad >&2; exit 3");
        Assert.Equal(3, failed.ExitCode);
        Assert.Equal("bad\n", failed.Stderr.ToStringUtf8());
        // The pod's pid namespace (POD, the default): pid 1 is the pod's pause process, the container's sleep beside it.
        Assert.EndsWith("--pause", (await Exec(id, "cat", "/proc/1/cmdline")).Stdout.ToStringUtf8().Replace('\0', ' ').Trim());
        Assert.Contains("sleep 1000", (await Exec(id, "ps", "-o", "args")).Stdout.ToStringUtf8());
        var timeout = await Assert.ThrowsAsync<RpcException>(async () =>
            await Rt.ExecSyncAsync(new V1.ExecSyncRequest { ContainerId = id, Cmd = { "sleep", "30" }, Timeout = 1 }));
        Assert.Equal(StatusCode.DeadlineExceeded, timeout.StatusCode);

        // The CRI log: timestamp, stream, F tag.
        string log = await WaitForLog(cs.LogPath, "to-stderr");
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.EndsWith(" stdout F started", StringComparison.Ordinal) && DateTime.TryParse(l.Split(' ')[0], out _));
        Assert.Contains(lines, l => l.EndsWith(" stderr F to-stderr", StringComparison.Ordinal));

        // ReopenContainerLog: after rotation the monitor writes to a new file at the same path.
        File.Move(cs.LogPath, cs.LogPath + ".1");
        await Rt.ReopenContainerLogAsync(new V1.ReopenContainerLogRequest { ContainerId = id });
        Assert.True(File.Exists(cs.LogPath));

        // Stats: the container's cgroup and writable layer, the pod's cgroup and network namespace.
        Assert.Equal(0, (await Exec(id, "sh", "-c", "head -c 100000 /dev/zero > /data.bin")).ExitCode);
        var stats = (await Rt.ContainerStatsAsync(new V1.ContainerStatsRequest { ContainerId = id })).Stats;
        Assert.Equal(id, stats.Attributes.Id);
        Assert.True(stats.Memory.WorkingSetBytes.Value > 0 && stats.Memory.UsageBytes.Value >= stats.Memory.WorkingSetBytes.Value);
        Assert.True(stats.Cpu.UsageCoreNanoSeconds.Value > 0);
        Assert.True(stats.WritableLayer.UsedBytes.Value >= 100000, $"writable layer {stats.WritableLayer.UsedBytes.Value} bytes");
        Assert.Equal(id, Assert.Single((await Rt.ListContainerStatsAsync(new V1.ListContainerStatsRequest
        {
            Filter = new V1.ContainerStatsFilter { PodSandboxId = pod },
        })).Stats).Attributes.Id);
        var podStats = (await Rt.PodSandboxStatsAsync(new V1.PodSandboxStatsRequest { PodSandboxId = pod })).Stats;
        Assert.Equal("eth0", podStats.Linux.Network.DefaultInterface.Name);
        Assert.True(podStats.Linux.Memory.UsageBytes.Value > 0 && podStats.Linux.Cpu.UsageCoreNanoSeconds.Value > 0);
        Assert.True(podStats.Linux.Process.ProcessCount.Value >= 2); // the pause process and sleep
        Assert.Equal(id, Assert.Single(podStats.Linux.Containers).Attributes.Id);

        // SIGTERM ends it within the grace period (sleep is not the pid namespace's init here).
        await Rt.StopContainerAsync(new V1.StopContainerRequest { ContainerId = id, Timeout = 10 });
        cs = (await Rt.ContainerStatusAsync(new V1.ContainerStatusRequest { ContainerId = id })).Status;
        Assert.Equal(V1.ContainerState.ContainerExited, cs.State);
        Assert.Equal(143, cs.ExitCode);
        Assert.Equal("Error", cs.Reason);
        Assert.True(cs.FinishedAt >= cs.StartedAt);

        await Rt.RemoveContainerAsync(new V1.RemoveContainerRequest { ContainerId = id });
        await Rt.RemoveContainerAsync(new V1.RemoveContainerRequest { ContainerId = id }); // idempotent
        Assert.Empty((await Rt.ListContainersAsync(new V1.ListContainersRequest())).Containers);
        Assert.False(Directory.Exists(Path.Combine(_bed.Dir.Path, "images", "bundles", id)));

        await Rt.StopPodSandboxAsync(new V1.StopPodSandboxRequest { PodSandboxId = pod });
        status = (await Rt.PodSandboxStatusAsync(new V1.PodSandboxStatusRequest { PodSandboxId = pod })).Status;
        Assert.Equal(V1.PodSandboxState.SandboxNotready, status.State);
        Assert.False(File.Exists(netns));
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(_bed.Dir.Path, "ipam", _bed.Bridge + "-net")), f => Path.GetFileName(f).StartsWith(_bed.Subnet, StringComparison.Ordinal));
        await Rt.RemovePodSandboxAsync(new V1.RemovePodSandboxRequest { PodSandboxId = pod });
        Assert.Empty((await Rt.ListPodSandboxAsync(new V1.ListPodSandboxRequest())).Items);
        Assert.False(Directory.Exists(Path.Combine(_bed.Dir.Path, "s", "pods", pod)));
        Assert.False(Directory.Exists($"/sys/fs/cgroup/memory/csrun/pods/{pod}"));
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(pod, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ExitCode_Logs_PartialLines_AndContainerList()
    {
        var podConfig = PodTestBed.PodConfig("batch", logDir: _bed.Logs.Path);
        string pod = await _bed.RunPodAsync(podConfig);
        using var events = Rt.GetContainerEvents(new V1.GetEventsRequest());
        await events.ResponseHeadersAsync; // subscribed
        string id = await _bed.StartContainerAsync(pod, podConfig,
            PodTestBed.ContainerConfig("job", "sh", "-c", "echo out; echo err >&2; printf partial; exit 7"));
        var cs = await _bed.WaitExitedAsync(id);
        // GetContainerEvents: created, started, and stopped once it ended on its own.
        var seen = new List<V1.ContainerEventType>();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
            while (seen.Count < 3 && await events.ResponseStream.MoveNext(cts.Token))
                if (events.ResponseStream.Current.ContainerId == id) seen.Add(events.ResponseStream.Current.ContainerEventType);
        Assert.Equal([V1.ContainerEventType.ContainerCreatedEvent, V1.ContainerEventType.ContainerStartedEvent, V1.ContainerEventType.ContainerStoppedEvent], seen);
        Assert.Equal(7, cs.ExitCode);
        Assert.Equal("Error", cs.Reason);
        string[] lines = File.ReadAllLines(cs.LogPath);
        Assert.Equal(3, lines.Length);
        Assert.Contains(lines, l => l.EndsWith(" stdout F out", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" stderr F err", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" stdout P partial", StringComparison.Ordinal));

        var exited = (await Rt.ListContainersAsync(new V1.ListContainersRequest
        {
            Filter = new V1.ContainerFilter { PodSandboxId = pod, State = new V1.ContainerStateValue { State = V1.ContainerState.ContainerExited } },
        })).Containers;
        Assert.Equal(id, Assert.Single(exited).Id);
        Assert.Empty((await Rt.ListContainersAsync(new V1.ListContainersRequest
        {
            Filter = new V1.ContainerFilter { State = new V1.ContainerStateValue { State = V1.ContainerState.ContainerRunning } },
        })).Containers);
        // An exited container cannot be exec'd into.
        var e = await Assert.ThrowsAsync<RpcException>(async () => await Rt.ExecSyncAsync(new V1.ExecSyncRequest { ContainerId = id, Cmd = { "true" } }));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        // RemovePodSandbox takes its containers with it.
        await Rt.RemovePodSandboxAsync(new V1.RemovePodSandboxRequest { PodSandboxId = pod });
        Assert.Empty((await Rt.ListContainersAsync(new V1.ListContainersRequest())).Containers);
    }

    [Fact]
    public async Task SecurityContext_User_ReadonlyRootfs_Capabilities_Seccomp()
    {
        var podConfig = PodTestBed.PodConfig("secure", logDir: _bed.Logs.Path);
        string pod = await _bed.RunPodAsync(podConfig);
        var config = PodTestBed.ContainerConfig("locked", "sleep", "1000");
        config.Linux = new V1.LinuxContainerConfig
        {
            SecurityContext = new V1.LinuxContainerSecurityContext
            {
                RunAsUser = new V1.Int64Value { Value = 1234 }, RunAsGroup = new V1.Int64Value { Value = 5678 }, SupplementalGroups = { 4321 },
                ReadonlyRootfs = true, NoNewPrivs = true,
                Capabilities = new V1.Capability { DropCapabilities = { "ALL" }, AddCapabilities = { "NET_BIND_SERVICE" } },
                NamespaceOptions = new V1.NamespaceOption { Pid = V1.NamespaceMode.Container },
                Seccomp = new V1.SecurityProfile { ProfileType = V1.SecurityProfile.Types.ProfileType.RuntimeDefault },
            },
        };
        config.Devices.Add(new V1.Device { HostPath = "/dev/null", ContainerPath = "/dev/mynull", Permissions = "rw" });
        string id = await _bed.StartContainerAsync(pod, podConfig, config);
        Assert.Equal("uid=1234 gid=5678 groups=4321\n", (await Exec(id, "id")).Stdout.ToStringUtf8());
        // The device: made in the container's /dev and allowed by the device cgroup.
        Assert.StartsWith("crw-rw-rw-", (await Exec(id, "ls", "-l", "/dev/mynull")).Stdout.ToStringUtf8());
        Assert.Equal(0, (await Exec(id, "sh", "-c", "echo x > /dev/mynull")).ExitCode);
        var write = await Exec(id, "touch", "/tmp/x");
        Assert.NotEqual(0, write.ExitCode);
        Assert.Contains("Read-only file system", write.Stderr.ToStringUtf8());
        string proc = (await Exec(id, "cat", "/proc/self/status")).Stdout.ToStringUtf8();
        Assert.Contains("CapBnd:\t0000000000000400", proc); // CAP_NET_BIND_SERVICE (10) alone
        Assert.Contains("NoNewPrivs:\t1", proc);
        Assert.Contains("Seccomp:\t2", proc);
        // Its own pid namespace (CONTAINER): sleep is pid 1.
        Assert.Equal("sleep 1000", (await Exec(id, "cat", "/proc/1/cmdline")).Stdout.ToStringUtf8().Replace('\0', ' ').Trim());
        // RuntimeDefault refuses unshare even where capabilities would not.
        var unshare = await Exec(id, "unshare", "-U", "true");
        Assert.NotEqual(0, unshare.ExitCode);
        Assert.Contains("Operation not permitted", unshare.Stderr.ToStringUtf8());

        // As its pid namespace's init sleep ignores SIGTERM: after the grace period SIGKILL ends it.
        await Rt.StopContainerAsync(new V1.StopContainerRequest { ContainerId = id, Timeout = 1 });
        var cs = (await Rt.ContainerStatusAsync(new V1.ContainerStatusRequest { ContainerId = id })).Status;
        Assert.Equal(137, cs.ExitCode);
    }

    [Fact]
    public async Task HostNetwork_Pod_SharesTheHostsNetwork()
    {
        var podConfig = PodTestBed.PodConfig("hostnet", c => c.Linux = new V1.LinuxPodSandboxConfig
        {
            SecurityContext = new V1.LinuxSandboxSecurityContext
            {
                NamespaceOptions = new V1.NamespaceOption { Network = V1.NamespaceMode.Node, Pid = V1.NamespaceMode.Node, Ipc = V1.NamespaceMode.Node },
            },
        });
        string pod = await _bed.RunPodAsync(podConfig);
        var status = (await Rt.PodSandboxStatusAsync(new V1.PodSandboxStatusRequest { PodSandboxId = pod })).Status;
        Assert.Null(status.Network);
        Assert.False(File.Exists(Path.Combine(_bed.Dir.Path, "netns", pod)));
        var config = PodTestBed.ContainerConfig("c", "sleep", "1000");
        config.Linux = new V1.LinuxContainerConfig
        {
            SecurityContext = new V1.LinuxContainerSecurityContext { NamespaceOptions = podConfig.Linux.SecurityContext.NamespaceOptions },
        };
        string id = await _bed.StartContainerAsync(pod, podConfig, config);
        foreach (string ns in (string[])["net", "pid", "ipc"])
            Assert.Equal(Sh.Ok("readlink", $"/proc/self/ns/{ns}"), (await Exec(id, "readlink", $"/proc/self/ns/{ns}")).Stdout.ToStringUtf8());
    }

    [Fact]
    public async Task Privileged_BidirectionalMount_PropagatesToTheHost_AndNodeHostname()
    {
        // A privileged pod with no hostname: the node's, as containerd does.
        var podConfig = PodTestBed.PodConfig("priv", c =>
        {
            c.Hostname = "";
            c.Linux = new V1.LinuxPodSandboxConfig { SecurityContext = new V1.LinuxSandboxSecurityContext { Privileged = true } };
        });
        string pod = await _bed.RunPodAsync(podConfig);
        string shared = Directory.CreateDirectory(Path.Combine(_bed.Logs.Path, "shared")).FullName;
        Sh.Ok("mount", "--bind", shared, shared);
        try
        {
            Sh.Ok("mount", "--make-rshared", shared);
            var config = PodTestBed.ContainerConfig("priv", "sleep", "1000");
            config.Mounts.Add(new V1.Mount { ContainerPath = "/mnt/shared", HostPath = shared, Propagation = V1.MountPropagation.PropagationBidirectional });
            config.Linux = new V1.LinuxContainerConfig { SecurityContext = new V1.LinuxContainerSecurityContext { Privileged = true } };
            string id = await _bed.StartContainerAsync(pod, podConfig, config);
            Assert.Equal(Environment.MachineName + "\n", (await Exec(id, "hostname")).Stdout.ToStringUtf8());
            // Privileged: every capability csrund itself may hold (this VM's bounding set lacks CAP_SYS_RESOURCE).
            string ourBounding = File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapBnd:", StringComparison.Ordinal));
            Assert.Contains(ourBounding, (await Exec(id, "cat", "/proc/self/status")).Stdout.ToStringUtf8());
            // A mount made inside the container shows on the host (rshared root, as containerd sets it).
            Assert.Equal(0, (await Exec(id, "sh", "-c", "mkdir -p /mnt/shared/inner && mount -t tmpfs inner /mnt/shared/inner")).ExitCode);
            Assert.Contains(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == Path.Combine(shared, "inner"));
            await Rt.RemovePodSandboxAsync(new V1.RemovePodSandboxRequest { PodSandboxId = pod });
        }
        finally
        {
            Sh.Run("umount", "-R", "-l", shared);
        }
    }

    [Fact]
    public async Task PodResources_AndUpdateContainerResources_ReachTheCgroups()
    {
        var podConfig = PodTestBed.PodConfig("limited", c => c.Linux = new V1.LinuxPodSandboxConfig
        {
            Resources = new V1.LinuxContainerResources { MemoryLimitInBytes = 256 << 20 },
            Overhead = new V1.LinuxContainerResources { MemoryLimitInBytes = 16 << 20 },
        });
        string pod = await _bed.RunPodAsync(podConfig);
        var config = PodTestBed.ContainerConfig("app", "sleep", "1000");
        config.Linux = new V1.LinuxContainerConfig { Resources = new V1.LinuxContainerResources { MemoryLimitInBytes = 64 << 20 } };
        string id = await _bed.StartContainerAsync(pod, podConfig, config);
        string podCgroup = (await Rt.PodSandboxStatusAsync(new V1.PodSandboxStatusRequest { PodSandboxId = pod, Verbose = true })).Info["info"]
            .Split('"').SkipWhile(t => t != "cgroup").Skip(2).First();
        Assert.StartsWith("/csrun/", podCgroup);
        Assert.Equal((256 + 16) << 20, MemoryLimit(podCgroup)); // resources plus overhead
        Assert.Equal(64 << 20, MemoryLimit($"{podCgroup}/{id}"));

        await Rt.UpdateContainerResourcesAsync(new V1.UpdateContainerResourcesRequest
        {
            ContainerId = id, Linux = new V1.LinuxContainerResources { MemoryLimitInBytes = 128 << 20, CpuShares = 512 },
        });
        Assert.Equal(128 << 20, MemoryLimit($"{podCgroup}/{id}"));
        var e = await Assert.ThrowsAsync<RpcException>(async () => await Rt.UpdateContainerResourcesAsync(new V1.UpdateContainerResourcesRequest
        {
            ContainerId = id, Linux = new V1.LinuxContainerResources { MemoryLimitInBytes = -5 },
        }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("memory_limit_in_bytes", e.Status.Detail);
    }

    [Fact]
    public async Task WithoutItsMonitor_CreateContainer_FailsClearly_AndLeavesNothing()
    {
        await _bed.StopDaemonAsync();
        await _bed.StartDaemonAsync(o => o.MonitorPath = "/nonexistent/csrun-monitor");
        var podConfig = PodTestBed.PodConfig("nomon", c => c.Linux = new V1.LinuxPodSandboxConfig
        {
            SecurityContext = new V1.LinuxSandboxSecurityContext { NamespaceOptions = new V1.NamespaceOption { Pid = V1.NamespaceMode.Container } },
        });
        string pod = await _bed.RunPodAsync(podConfig);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await Rt.CreateContainerAsync(new V1.CreateContainerRequest
        { PodSandboxId = pod, Config = PodTestBed.ContainerConfig("c", "sleep", "1") }));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("/nonexistent/csrun-monitor: csrun-monitor not found", e.Status.Detail);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "s", "containers")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "images", "bundles")));
        // A shared pid namespace needs the monitor too (its pause mode).
        e = await Assert.ThrowsAsync<RpcException>(async () => await _bed.RunPodAsync(PodTestBed.PodConfig("nomon2")));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Single(Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "s", "pods")));
    }

    /// <summary>A cgroup's memory limit from the host's hierarchy (v1 memory controller, or v2).</summary>
    private static long MemoryLimit(string cgroup) =>
        long.Parse(File.ReadAllText(Directory.Exists("/sys/fs/cgroup/memory")
            ? $"/sys/fs/cgroup/memory{cgroup}/memory.limit_in_bytes"
            : $"/sys/fs/cgroup{cgroup}/memory.max").Trim());

    [Fact]
    public async Task BadRequests_NameTheField_AndLeaveNothing()
    {
        var e = await Assert.ThrowsAsync<RpcException>(async () => await _bed.RunPodAsync(PodTestBed.PodConfig("")));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("config.metadata.name", e.Status.Detail);

        e = await Assert.ThrowsAsync<RpcException>(async () => await _bed.RunPodAsync(PodTestBed.PodConfig("bad",
            c => c.Linux = new V1.LinuxPodSandboxConfig { Sysctls = { ["kernel.hostname"] = "x" } })));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("config.linux.sysctls[kernel.hostname]", e.Status.Detail);

        // A sysctl the kernel refuses fails after namespaces exist: they are undone.
        e = await Assert.ThrowsAsync<RpcException>(async () => await _bed.RunPodAsync(PodTestBed.PodConfig("bad2",
            c => c.Linux = new V1.LinuxPodSandboxConfig { Sysctls = { ["net.ipv4.no_such_sysctl"] = "1" } })));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "s", "pods")));
        Assert.Empty(Directory.Exists(Path.Combine(_bed.Dir.Path, "netns")) ? Directory.GetFiles(Path.Combine(_bed.Dir.Path, "netns")) : []);

        e = await Assert.ThrowsAsync<RpcException>(async () => await _bed.RunPodAsync(PodTestBed.PodConfig("long", c => c.Hostname = new string('h', 65))));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("config.hostname", e.Status.Detail);

        // The pod cgroup cannot be made after its parent was (the kernel refuses a newline in a cgroup's name,
        // which would make /proc/PID/cgroup unparsable): nothing of either stays.
        string badParent = Sh.UniqueName("csrt-parent-");
        e = await Assert.ThrowsAsync<RpcException>(async () => await _bed.RunPodAsync(PodTestBed.PodConfig("cgfail",
            c => c.Linux = new V1.LinuxPodSandboxConfig { CgroupParent = $"{badParent}/bad\nname" })));
        Assert.Contains("create cgroup", e.Status.Detail);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "s", "pods")));
        Assert.DoesNotContain(Directory.GetDirectories("/sys/fs/cgroup"), h => Directory.Exists($"{h}/csrun/{badParent}"));

        // A CNI chain that fails after the bridge plugin attached the pod: the chain is undone (no veth, no lease),
        // and so is everything before it.
        string broken = Path.Combine(_bed.Dir.Path, "net.d", "00-broken.conflist"), brokenBridge = _bed.Bridge + "b";
        try
        {
            File.WriteAllText(broken, $$"""
                { "cniVersion": "1.0.0", "name": "broken",
                  "plugins": [
                    { "type": "bridge", "bridge": "{{brokenBridge}}", "ipam": { "type": "host-local", "dataDir": "{{_bed.Dir.Combine("ipam")}}", "ranges": [[{ "subnet": "{{_bed.Subnet}}.0/24" }]] } },
                    { "type": "no-such-plugin" } ] }
                """);
            string parent = Sh.UniqueName("csrt-parent-");
            e = await Assert.ThrowsAsync<RpcException>(async () => await _bed.RunPodAsync(PodTestBed.PodConfig("cnifail",
                c => c.Linux = new V1.LinuxPodSandboxConfig { CgroupParent = $"{parent}/pod" })));
            Assert.Contains("no-such-plugin", e.Status.Detail);
            File.Delete(broken);
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "s", "pods")));
            Assert.Empty(Directory.GetFiles(Path.Combine(_bed.Dir.Path, "netns")));
            Assert.Empty(Directory.Exists($"/sys/class/net/{brokenBridge}/brif") ? Directory.GetFileSystemEntries($"/sys/class/net/{brokenBridge}/brif") : []);
            Assert.DoesNotContain(Directory.GetFiles(_bed.Dir.Combine("ipam", "broken")), f => Path.GetFileName(f).StartsWith(_bed.Subnet, StringComparison.Ordinal));
            Assert.DoesNotContain(Directory.GetDirectories("/sys/fs/cgroup"), h => Directory.Exists($"{h}/csrun/{parent}"));
        }
        finally
        {
            File.Delete(broken);
            Sh.Run("ip", "link", "del", brokenBridge);
        }

        var podConfig = PodTestBed.PodConfig("ok", logDir: _bed.Logs.Path);
        string pod = await _bed.RunPodAsync(podConfig);
        e = await Assert.ThrowsAsync<RpcException>(async () => await _bed.RunPodAsync(podConfig));
        Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);

        e = await Assert.ThrowsAsync<RpcException>(async () => await Rt.CreateContainerAsync(new V1.CreateContainerRequest
        { PodSandboxId = "nosuchpod", Config = PodTestBed.ContainerConfig("c", "true") }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        var noImage = PodTestBed.ContainerConfig("c", "true");
        noImage.Image.Image = "no-such-image:1";
        e = await Assert.ThrowsAsync<RpcException>(async () => await Rt.CreateContainerAsync(new V1.CreateContainerRequest { PodSandboxId = pod, Config = noImage }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Contains("no-such-image:1", e.Status.Detail);

        // The runtime refuses the command at create: nothing is left (container record, bundle, snapshot, runtime state).
        e = await Assert.ThrowsAsync<RpcException>(async () => await Rt.CreateContainerAsync(new V1.CreateContainerRequest
        { PodSandboxId = pod, Config = PodTestBed.ContainerConfig("c", "/no/such/binary") }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("/no/such/binary", e.Status.Detail);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "s", "containers")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "images", "bundles")));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "images", "snapshots", "active")));
        Assert.Empty(Directory.Exists(Path.Combine(_bed.Dir.Path, "s", "runtime")) ? Directory.GetFileSystemEntries(Path.Combine(_bed.Dir.Path, "s", "runtime")) : []);

        e = await Assert.ThrowsAsync<RpcException>(async () => await Rt.ContainerStatusAsync(new V1.ContainerStatusRequest { ContainerId = "nope" }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        await Rt.StopPodSandboxAsync(new V1.StopPodSandboxRequest { PodSandboxId = "gone" }); // idempotent
    }

    private static async Task<string> WaitForLog(string path, string text)
    {
        for (int i = 0; i < 200; i++)
        {
            if (File.Exists(path))
            {
                string s = Encoding.UTF8.GetString(File.ReadAllBytes(path));
                if (s.Contains(text, StringComparison.Ordinal)) return s;
            }
            await Task.Delay(25);
        }
        throw new TimeoutException($"{path} never got \"{text}\"");
    }
}
