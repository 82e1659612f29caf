using Csrun.Cri.V1;
using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>
/// runtime.v1 RuntimeService on the wire: each RPC goes to the class for its concern. Both this and the
/// v1alpha2 service (<see cref="V1Alpha2RuntimeService"/>) end up in the same concern objects.
/// </summary>
public sealed class CriRuntimeService : RuntimeService.RuntimeServiceBase
{
    private readonly RuntimeStatusService _runtimeStatus;
    private readonly PodSandboxService _podSandbox;
    private readonly ContainerService _container;
    private readonly StreamingService _streaming;
    private readonly StatsService _stats;

    public CriRuntimeService(RuntimeStatusService runtimeStatus, PodSandboxService podSandbox, ContainerService container,
        StreamingService streaming, StatsService stats)
    {
        _runtimeStatus = runtimeStatus;
        _podSandbox = podSandbox;
        _container = container;
        _streaming = streaming;
        _stats = stats;
    }

    public override Task<VersionResponse> Version(VersionRequest request, ServerCallContext context) =>
        _runtimeStatus.Version(request, context);

    public override Task<StatusResponse> Status(StatusRequest request, ServerCallContext context) =>
        _runtimeStatus.Status(request, context);

    public override Task<UpdateRuntimeConfigResponse> UpdateRuntimeConfig(UpdateRuntimeConfigRequest request, ServerCallContext context) =>
        _runtimeStatus.UpdateRuntimeConfig(request, context);

    public override Task<RuntimeConfigResponse> RuntimeConfig(RuntimeConfigRequest request, ServerCallContext context) =>
        _runtimeStatus.RuntimeConfig(request, context);

    public override Task<RunPodSandboxResponse> RunPodSandbox(RunPodSandboxRequest request, ServerCallContext context) =>
        _podSandbox.RunPodSandbox(request, context);

    public override Task<StopPodSandboxResponse> StopPodSandbox(StopPodSandboxRequest request, ServerCallContext context) =>
        _podSandbox.StopPodSandbox(request, context);

    public override Task<RemovePodSandboxResponse> RemovePodSandbox(RemovePodSandboxRequest request, ServerCallContext context) =>
        _podSandbox.RemovePodSandbox(request, context);

    public override Task<PodSandboxStatusResponse> PodSandboxStatus(PodSandboxStatusRequest request, ServerCallContext context) =>
        _podSandbox.PodSandboxStatus(request, context);

    public override Task<ListPodSandboxResponse> ListPodSandbox(ListPodSandboxRequest request, ServerCallContext context) =>
        _podSandbox.ListPodSandbox(request, context);

    public override Task StreamPodSandboxes(StreamPodSandboxesRequest request, IServerStreamWriter<StreamPodSandboxesResponse> responseStream, ServerCallContext context) =>
        _podSandbox.StreamPodSandboxes(request, responseStream, context);

    public override Task<UpdatePodSandboxResourcesResponse> UpdatePodSandboxResources(UpdatePodSandboxResourcesRequest request, ServerCallContext context) =>
        _podSandbox.UpdatePodSandboxResources(request, context);

    public override Task<CreateContainerResponse> CreateContainer(CreateContainerRequest request, ServerCallContext context) =>
        _container.CreateContainer(request, context);

    public override Task<StartContainerResponse> StartContainer(StartContainerRequest request, ServerCallContext context) =>
        _container.StartContainer(request, context);

    public override Task<StopContainerResponse> StopContainer(StopContainerRequest request, ServerCallContext context) =>
        _container.StopContainer(request, context);

    public override Task<RemoveContainerResponse> RemoveContainer(RemoveContainerRequest request, ServerCallContext context) =>
        _container.RemoveContainer(request, context);

    public override Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context) =>
        _container.ListContainers(request, context);

    public override Task StreamContainers(StreamContainersRequest request, IServerStreamWriter<StreamContainersResponse> responseStream, ServerCallContext context) =>
        _container.StreamContainers(request, responseStream, context);

    public override Task<ContainerStatusResponse> ContainerStatus(ContainerStatusRequest request, ServerCallContext context) =>
        _container.ContainerStatus(request, context);

    public override Task<UpdateContainerResourcesResponse> UpdateContainerResources(UpdateContainerResourcesRequest request, ServerCallContext context) =>
        _container.UpdateContainerResources(request, context);

    public override Task<ReopenContainerLogResponse> ReopenContainerLog(ReopenContainerLogRequest request, ServerCallContext context) =>
        _container.ReopenContainerLog(request, context);

    public override Task<ExecSyncResponse> ExecSync(ExecSyncRequest request, ServerCallContext context) =>
        _container.ExecSync(request, context);

    public override Task<CheckpointContainerResponse> CheckpointContainer(CheckpointContainerRequest request, ServerCallContext context) =>
        _container.CheckpointContainer(request, context);

    public override Task GetContainerEvents(GetEventsRequest request, IServerStreamWriter<ContainerEventResponse> responseStream, ServerCallContext context) =>
        _container.GetContainerEvents(request, responseStream, context);

    public override Task<ExecResponse> Exec(ExecRequest request, ServerCallContext context) =>
        _streaming.Exec(request, context);

    public override Task<AttachResponse> Attach(AttachRequest request, ServerCallContext context) =>
        _streaming.Attach(request, context);

    public override Task<PortForwardResponse> PortForward(PortForwardRequest request, ServerCallContext context) =>
        _streaming.PortForward(request, context);

    public override Task<ContainerStatsResponse> ContainerStats(ContainerStatsRequest request, ServerCallContext context) =>
        _stats.ContainerStats(request, context);

    public override Task<ListContainerStatsResponse> ListContainerStats(ListContainerStatsRequest request, ServerCallContext context) =>
        _stats.ListContainerStats(request, context);

    public override Task StreamContainerStats(StreamContainerStatsRequest request, IServerStreamWriter<StreamContainerStatsResponse> responseStream, ServerCallContext context) =>
        _stats.StreamContainerStats(request, responseStream, context);

    public override Task<PodSandboxStatsResponse> PodSandboxStats(PodSandboxStatsRequest request, ServerCallContext context) =>
        _stats.PodSandboxStats(request, context);

    public override Task<ListPodSandboxStatsResponse> ListPodSandboxStats(ListPodSandboxStatsRequest request, ServerCallContext context) =>
        _stats.ListPodSandboxStats(request, context);

    public override Task StreamPodSandboxStats(StreamPodSandboxStatsRequest request, IServerStreamWriter<StreamPodSandboxStatsResponse> responseStream, ServerCallContext context) =>
        _stats.StreamPodSandboxStats(request, responseStream, context);

    public override Task<ListMetricDescriptorsResponse> ListMetricDescriptors(ListMetricDescriptorsRequest request, ServerCallContext context) =>
        _stats.ListMetricDescriptors(request, context);

    public override Task<ListPodSandboxMetricsResponse> ListPodSandboxMetrics(ListPodSandboxMetricsRequest request, ServerCallContext context) =>
        _stats.ListPodSandboxMetrics(request, context);

    public override Task StreamPodSandboxMetrics(StreamPodSandboxMetricsRequest request, IServerStreamWriter<StreamPodSandboxMetricsResponse> responseStream, ServerCallContext context) =>
        _stats.StreamPodSandboxMetrics(request, responseStream, context);
}
