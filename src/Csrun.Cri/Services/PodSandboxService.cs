using Csrun.Cri.V1;
using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>Pod sandboxes: their network, IPC and UTS namespaces (held by files under the netns directory), CNI attachment, pod cgroup.</summary>
/// <remarks>UNIMPLEMENTED: every method answers StatusCode.Unimplemented until issue 6 fills it in.</remarks>
public sealed class PodSandboxService
{
    public Task<RunPodSandboxResponse> RunPodSandbox(RunPodSandboxRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(RunPodSandbox));

    public Task<StopPodSandboxResponse> StopPodSandbox(StopPodSandboxRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StopPodSandbox));

    public Task<RemovePodSandboxResponse> RemovePodSandbox(RemovePodSandboxRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(RemovePodSandbox));

    public Task<PodSandboxStatusResponse> PodSandboxStatus(PodSandboxStatusRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(PodSandboxStatus));

    public Task<ListPodSandboxResponse> ListPodSandbox(ListPodSandboxRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ListPodSandbox));

    public Task StreamPodSandboxes(StreamPodSandboxesRequest request, IServerStreamWriter<StreamPodSandboxesResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamPodSandboxes));

    public Task<UpdatePodSandboxResourcesResponse> UpdatePodSandboxResources(UpdatePodSandboxResourcesRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(UpdatePodSandboxResources));
}
