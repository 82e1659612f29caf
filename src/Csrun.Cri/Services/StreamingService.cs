using Csrun.Cri.State;
using Csrun.Cri.Streaming;
using Csrun.Cri.V1;
using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>Exec, Attach and PortForward check the request and answer with a URL of csrund's streaming server
/// (SPDY/3.1 or websocket, src/Csrun.Cri/Streaming), which does the work when the client connects.</summary>
public sealed class StreamingService(CriStore store, ContainerService containers, StreamRequests requests)
{
    public Task<ExecResponse> Exec(ExecRequest request, ServerCallContext context)
    {
        var c = RunningContainer(request.ContainerId);
        if (request.Cmd.Count == 0) throw CriErrors.InvalidArgument("cmd", "must not be empty");
        CheckStreams(request.Stdin, request.Stdout, request.Stderr, request.Tty);
        request.ContainerId = c.Id;
        return Task.FromResult(new ExecResponse { Url = $"{requests.BaseUrl}/exec/{requests.Add(request)}" });
    }

    public Task<AttachResponse> Attach(AttachRequest request, ServerCallContext context)
    {
        var c = RunningContainer(request.ContainerId);
        CheckStreams(request.Stdin, request.Stdout, request.Stderr, request.Tty);
        if (request.Tty != c.Config.Tty)
            throw CriErrors.InvalidArgument("tty", $"must match the container's ({c.Config.Tty})");
        request.ContainerId = c.Id;
        return Task.FromResult(new AttachResponse { Url = $"{requests.BaseUrl}/attach/{requests.Add(request)}" });
    }

    public Task<PortForwardResponse> PortForward(PortForwardRequest request, ServerCallContext context)
    {
        CriErrors.Require(request.PodSandboxId, "pod_sandbox_id");
        var pod = store.FindPod(request.PodSandboxId) ?? throw CriErrors.NotFound("pod sandbox", request.PodSandboxId);
        if (!pod.Ready) throw CriErrors.FailedPrecondition($"pod sandbox {pod.Id} is not ready");
        if (request.Port.Any(p => p is <= 0 or > 65535)) throw CriErrors.InvalidArgument("port", "ports must be within 1-65535");
        request.PodSandboxId = pod.Id;
        return Task.FromResult(new PortForwardResponse { Url = $"{requests.BaseUrl}/portforward/{requests.Add(request)}" });
    }

    private State.ContainerRecord RunningContainer(string id)
    {
        var c = containers.Require(id);
        if (containers.StateOf(c, out _) != ContainerState.ContainerRunning)
            throw CriErrors.FailedPrecondition($"container {c.Id} is not running");
        return c;
    }

    private static void CheckStreams(bool stdin, bool stdout, bool stderr, bool tty)
    {
        if (!stdin && !stdout && !stderr) throw CriErrors.InvalidArgument("stdin", "one of stdin, stdout or stderr must be set");
        if (tty && stderr) throw CriErrors.InvalidArgument("stderr", "a tty has no separate stderr: tty and stderr cannot both be set");
    }
}
