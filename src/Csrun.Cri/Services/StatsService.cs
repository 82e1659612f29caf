using Csrun.Cri.V1;
using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>CPU, memory and writable-layer usage per container and pod, from cgroups and snapshot directories. The metrics RPCs may stay Unimplemented.</summary>
/// <remarks>UNIMPLEMENTED: every method answers StatusCode.Unimplemented until issue 6 fills it in.</remarks>
public sealed class StatsService
{
    public Task<ContainerStatsResponse> ContainerStats(ContainerStatsRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ContainerStats));

    public Task<ListContainerStatsResponse> ListContainerStats(ListContainerStatsRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ListContainerStats));

    public Task StreamContainerStats(StreamContainerStatsRequest request, IServerStreamWriter<StreamContainerStatsResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamContainerStats));

    public Task<PodSandboxStatsResponse> PodSandboxStats(PodSandboxStatsRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(PodSandboxStats));

    public Task<ListPodSandboxStatsResponse> ListPodSandboxStats(ListPodSandboxStatsRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ListPodSandboxStats));

    public Task StreamPodSandboxStats(StreamPodSandboxStatsRequest request, IServerStreamWriter<StreamPodSandboxStatsResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamPodSandboxStats));

    public Task<ListMetricDescriptorsResponse> ListMetricDescriptors(ListMetricDescriptorsRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ListMetricDescriptors));

    public Task<ListPodSandboxMetricsResponse> ListPodSandboxMetrics(ListPodSandboxMetricsRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ListPodSandboxMetrics));

    public Task StreamPodSandboxMetrics(StreamPodSandboxMetricsRequest request, IServerStreamWriter<StreamPodSandboxMetricsResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamPodSandboxMetrics));
}
