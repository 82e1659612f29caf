using V1 = Csrun.Cri.V1;

namespace Csrun.Cri.Tests;

/// <summary>csrund killed with SIGKILL while containers run: they keep running and logging, and the restarted
/// daemon reports their state, exit codes and logs right.</summary>
public sealed class RestartTests : IAsyncLifetime
{
    private PodTestBed _bed = null!;

    public async Task InitializeAsync() => _bed = await PodTestBed.StartAsync();

    public async Task DisposeAsync()
    {
        if (_bed is not null) await _bed.DisposeAsync();
    }

    [Fact]
    public async Task Containers_SurviveADaemonKilledWithSigkill()
    {
        await _bed.StopDaemonAsync(); // this test drives the real executable
        await _bed.StartExternalDaemonAsync();
        var podConfig = PodTestBed.PodConfig("survivor", logDir: _bed.Logs.Path);
        string pod = await _bed.RunPodAsync(podConfig);
        string server = await _bed.StartContainerAsync(pod, podConfig, PodTestBed.ContainerConfig("server", "sh", "-c", "echo up; exec sleep 1000"));
        string job = await _bed.StartContainerAsync(pod, podConfig,
            PodTestBed.ContainerConfig("job", "sh", "-c", "sleep 1000 & sleep 2; echo finished while csrund was down; exit 5"));
        var jobLog = (await _bed.Runtime.ContainerStatusAsync(new V1.ContainerStatusRequest { ContainerId = job })).Status.LogPath;

        _bed.KillExternalDaemon();
        await Task.Delay(3500); // the job ends meanwhile; its monitor records the exit and the log line
        await _bed.StartExternalDaemonAsync();

        var status = (await _bed.Runtime.ContainerStatusAsync(new V1.ContainerStatusRequest { ContainerId = server })).Status;
        Assert.Equal(V1.ContainerState.ContainerRunning, status.State);
        Assert.Equal("hello\n", (await _bed.Runtime.ExecSyncAsync(new V1.ExecSyncRequest { ContainerId = server, Cmd = { "echo", "hello" }, Timeout = 10 })).Stdout.ToStringUtf8());
        var jobStatus = await _bed.WaitExitedAsync(job);
        Assert.Equal(5, jobStatus.ExitCode);
        Assert.Contains(File.ReadAllLines(jobLog), l => l.EndsWith(" stdout F finished while csrund was down", StringComparison.Ordinal));
        var podStatus = (await _bed.Runtime.PodSandboxStatusAsync(new V1.PodSandboxStatusRequest { PodSandboxId = pod })).Status;
        Assert.Equal(V1.PodSandboxState.SandboxReady, podStatus.State);
        Assert.StartsWith(_bed.Subnet + ".", podStatus.Network.Ip);

        await _bed.Runtime.StopContainerAsync(new V1.StopContainerRequest { ContainerId = server, Timeout = 5 });
        Assert.Equal(143, (await _bed.Runtime.ContainerStatusAsync(new V1.ContainerStatusRequest { ContainerId = server })).Status.ExitCode);
        await _bed.Runtime.RemovePodSandboxAsync(new V1.RemovePodSandboxRequest { PodSandboxId = pod });
        Assert.Empty((await _bed.Runtime.ListContainersAsync(new V1.ListContainersRequest())).Containers);
    }
}
