using Csrun.Images.Store;
using Csrun.Images.Tests.Fixtures;
using Grpc.Net.Client;
using V1 = Csrun.Cri.V1;

namespace Csrun.Cri.Tests;

/// <summary>
/// What the pod tests share: csrund's state under a directory of /run of their own (short enough for the
/// monitors' unix sockets), the busybox test image imported into its store, a CNI bridge network with its own
/// bridge, subnet and lease directory, and the binaries `make test` names (csrun, csrun-monitor).
/// Dispose removes pods, containers, the bridge and the directories, whatever the test left.
/// </summary>
internal sealed class PodTestBed : IAsyncDisposable
{
    public const string Image = "busybox:test";

    public readonly TempDir Dir = new("/run");
    public readonly TempDir Logs = new();
    public readonly string Bridge = Sh.UniqueName("csrt");
    public readonly string Subnet = $"10.252.{Random.Shared.Next(0, 256)}";
    public CriDaemon Daemon { get; private set; } = null!;

    public static string Binary(string env, string name)
    {
        string? path = Environment.GetEnvironmentVariable(env);
        if (string.IsNullOrEmpty(path))
        {
            string? csrun = Environment.GetEnvironmentVariable("CSRUN_BINARY");
            path = csrun is null ? null : Path.Combine(Path.GetDirectoryName(csrun)!, name);
        }
        Assert.True(path is not null && File.Exists(path), $"{name} not found: run `make build` and set {env} (or CSRUN_BINARY beside it), as `make test` does");
        return path!;
    }

    public static async Task<PodTestBed> StartAsync()
    {
        var bed = new PodTestBed();
        try
        {
            Directory.CreateDirectory(bed.Dir.Combine("net.d"));
            File.WriteAllText(bed.Dir.Combine("net.d", "10-test.conflist"), $$"""
                {
                  "cniVersion": "1.0.0", "name": "{{bed.Bridge}}-net",
                  "plugins": [
                    { "type": "bridge", "bridge": "{{bed.Bridge}}", "isGateway": true, "ipMasq": false,
                      "ipam": { "type": "host-local", "dataDir": "{{bed.Dir.Combine("ipam")}}", "ranges": [[{ "subnet": "{{bed.Subnet}}.0/24" }]] } },
                    { "type": "portmap", "capabilities": { "portMappings": true } },
                    { "type": "loopback" }
                  ]
                }
                """);
            new ImageArchive(new ImageStore(bed.Dir.Combine("images"))).Import(TestImages.Layout("busybox"), Image);
            await bed.StartDaemonAsync();
            return bed;
        }
        catch
        {
            await bed.DisposeAsync();
            throw;
        }
    }

    public CriOptions Options => new()
    {
        SocketPath = Dir.Combine("csrund.sock"),
        CniConfigDirs = [Dir.Combine("net.d")],
        NetnsDirectory = Dir.Combine("netns"),
        ImageRoot = Dir.Combine("images"),
        StateRoot = Dir.Combine("s"),
        MonitorPath = Binary("CSRUN_MONITOR", "csrun-monitor"),
    };

    public async Task StartDaemonAsync(Action<CriOptions>? edit = null)
    {
        var options = Options;
        edit?.Invoke(options);
        Daemon = await CriDaemon.StartAsync(Dir, _ => { }, options);
    }

    public async Task StopDaemonAsync()
    {
        if (Daemon is not null) await Daemon.DisposeAsync();
        Daemon = null!;
    }

    private System.Diagnostics.Process? _external;
    private GrpcChannel? _externalChannel;

    /// <summary>Runs the real csrund executable (out/bin/csrund) on this bed's directories instead of the in-process host.</summary>
    public async Task StartExternalDaemonAsync()
    {
        var o = Options;
        var psi = new System.Diagnostics.ProcessStartInfo(Binary("CSRUND", "csrund")) { RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])["--listen", o.SocketPath, "--root", o.StateRoot, "--image-root", o.ImageRoot, "--netns-dir", o.NetnsDirectory,
                     "--cni-conf-dir", o.CniConfigDirs[0]])
            psi.ArgumentList.Add(a);
        psi.Environment["CSRUN_MONITOR"] = o.MonitorPath;
        _external = System.Diagnostics.Process.Start(psi)!;
        // Ready once it says where it serves.
        string? line = await _external.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(line?.Contains("serving the CRI") == true, $"csrund did not start: {line}");
        _ = _external.StandardError.ReadToEndAsync();
        _externalChannel = CriDaemon.Connect(o.SocketPath);
    }

    /// <summary>kill -9 of the external csrund: no shutdown code runs.</summary>
    public void KillExternalDaemon()
    {
        _externalChannel?.Dispose();
        _externalChannel = null;
        if (_external is null) return;
        int pid = _external.Id;
        _external.Kill();
        _external.WaitForExit();
        _external.Dispose();
        _external = null;
        // The .NET runtime removes its debugger pipes and diagnostics socket only when it shuts down.
        foreach (string pattern in (string[])[$"clr-debug-pipe-{pid}-*", $"dotnet-diagnostic-{pid}-*"])
            foreach (string f in Directory.GetFiles(Path.GetTempPath(), pattern))
                File.Delete(f);
    }

    public V1.RuntimeService.RuntimeServiceClient Runtime => new(_externalChannel ?? Daemon.Channel);

    public static V1.PodSandboxConfig PodConfig(string name, Action<V1.PodSandboxConfig>? edit = null, string? logDir = null)
    {
        var c = new V1.PodSandboxConfig
        {
            Metadata = new V1.PodSandboxMetadata { Name = name, Namespace = "tests", Uid = Guid.NewGuid().ToString(), Attempt = 0 },
            Hostname = name,
            LogDirectory = logDir ?? "",
            Labels = { ["app"] = name },
        };
        edit?.Invoke(c);
        return c;
    }

    public static V1.ContainerConfig ContainerConfig(string name, params string[] command) => new()
    {
        Metadata = new V1.ContainerMetadata { Name = name },
        Image = new V1.ImageSpec { Image = Image },
        Command = { command },
        LogPath = $"{name}/0.log",
    };

    public async Task<string> RunPodAsync(V1.PodSandboxConfig config) =>
        (await Runtime.RunPodSandboxAsync(new V1.RunPodSandboxRequest { Config = config })).PodSandboxId;

    public async Task<string> StartContainerAsync(string pod, V1.PodSandboxConfig podConfig, V1.ContainerConfig config)
    {
        string id = (await Runtime.CreateContainerAsync(new V1.CreateContainerRequest { PodSandboxId = pod, Config = config, SandboxConfig = podConfig })).ContainerId;
        await Runtime.StartContainerAsync(new V1.StartContainerRequest { ContainerId = id });
        return id;
    }

    public async Task<V1.ContainerStatus> WaitExitedAsync(string id)
    {
        for (int i = 0; i < 300; i++)
        {
            var s = (await Runtime.ContainerStatusAsync(new V1.ContainerStatusRequest { ContainerId = id })).Status;
            if (s.State == V1.ContainerState.ContainerExited) return s;
            await Task.Delay(50);
        }
        throw new TimeoutException($"container {id} did not exit within 15 s");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            KillExternalDaemon();
            if (Daemon is null && Directory.Exists(Dir.Combine("s"))) await StartDaemonAsync();
            if (Daemon is not null)
            {
                var rt = Runtime;
                foreach (var pod in (await rt.ListPodSandboxAsync(new V1.ListPodSandboxRequest())).Items)
                    await rt.RemovePodSandboxAsync(new V1.RemovePodSandboxRequest { PodSandboxId = pod.Id });
                await StopDaemonAsync();
            }
        }
        finally
        {
            Sh.Run("ip", "link", "del", Bridge);
            foreach (string mount in File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(Dir.Path + "/", StringComparison.Ordinal)).Reverse())
                Sh.Run("umount", "-l", mount);
            Sh.Run("umount", "-l", Dir.Combine("netns"));
            Dir.Dispose();
            Logs.Dispose();
        }
    }
}
