using Csrun.Cri.V1;
using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>Containers in a sandbox: create from an image's rootfs, start, stop, remove, status, logs, ExecSync and events.</summary>
/// <remarks>UNIMPLEMENTED: every method answers StatusCode.Unimplemented until issue 6 fills it in.</remarks>
public sealed class ContainerService
{
    public Task<CreateContainerResponse> CreateContainer(CreateContainerRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(CreateContainer));

    public Task<StartContainerResponse> StartContainer(StartContainerRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StartContainer));

    public Task<StopContainerResponse> StopContainer(StopContainerRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StopContainer));

    public Task<RemoveContainerResponse> RemoveContainer(RemoveContainerRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(RemoveContainer));

    public Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ListContainers));

    public Task StreamContainers(StreamContainersRequest request, IServerStreamWriter<StreamContainersResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamContainers));

    public Task<ContainerStatusResponse> ContainerStatus(ContainerStatusRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ContainerStatus));

    public Task<UpdateContainerResourcesResponse> UpdateContainerResources(UpdateContainerResourcesRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(UpdateContainerResources));

    public Task<ReopenContainerLogResponse> ReopenContainerLog(ReopenContainerLogRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ReopenContainerLog));

    public Task<ExecSyncResponse> ExecSync(ExecSyncRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ExecSync));

    public Task<CheckpointContainerResponse> CheckpointContainer(CheckpointContainerRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(CheckpointContainer));

    public Task GetContainerEvents(GetEventsRequest request, IServerStreamWriter<ContainerEventResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(GetContainerEvents));
}
