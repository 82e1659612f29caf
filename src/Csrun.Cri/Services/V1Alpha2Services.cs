using Csrun.Cri.V1Alpha2;
using Google.Protobuf;
using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>
/// runtime.v1alpha2, for kubelets before 1.26, served by the v1 implementation: every v1alpha2 message has the
/// same field numbers and wire types as its v1 namesake, so a request is serialized and parsed as the v1 type,
/// and the v1 response back as the v1alpha2 type. Fields v1 added and v1alpha2 lacks survive as unknown fields,
/// which the older kubelet skips. A message costs one extra encode and decode, nothing next to what an RPC does.
/// </summary>
internal static class WireBridge
{
    public static T Convert<T>(IMessage message) where T : IMessage<T>, new()
    {
        var converted = new T();
        converted.MergeFrom(message.ToByteString());
        return converted;
    }
}

/// <summary>runtime.v1alpha2 RuntimeService over <see cref="CriRuntimeService"/> (see <see cref="WireBridge"/>).</summary>
public sealed class V1Alpha2RuntimeService : RuntimeService.RuntimeServiceBase
{
    private readonly CriRuntimeService _v1;

    public V1Alpha2RuntimeService(CriRuntimeService v1) => _v1 = v1;

    private static T Convert<T>(IMessage message) where T : IMessage<T>, new() => WireBridge.Convert<T>(message);

    public override async Task<VersionResponse> Version(VersionRequest request, ServerCallContext context) =>
        Convert<VersionResponse>(await _v1.Version(Convert<V1.VersionRequest>(request), context).ConfigureAwait(false));

    public override async Task<RunPodSandboxResponse> RunPodSandbox(RunPodSandboxRequest request, ServerCallContext context) =>
        Convert<RunPodSandboxResponse>(await _v1.RunPodSandbox(Convert<V1.RunPodSandboxRequest>(request), context).ConfigureAwait(false));

    public override async Task<StopPodSandboxResponse> StopPodSandbox(StopPodSandboxRequest request, ServerCallContext context) =>
        Convert<StopPodSandboxResponse>(await _v1.StopPodSandbox(Convert<V1.StopPodSandboxRequest>(request), context).ConfigureAwait(false));

    public override async Task<RemovePodSandboxResponse> RemovePodSandbox(RemovePodSandboxRequest request, ServerCallContext context) =>
        Convert<RemovePodSandboxResponse>(await _v1.RemovePodSandbox(Convert<V1.RemovePodSandboxRequest>(request), context).ConfigureAwait(false));

    public override async Task<PodSandboxStatusResponse> PodSandboxStatus(PodSandboxStatusRequest request, ServerCallContext context) =>
        Convert<PodSandboxStatusResponse>(await _v1.PodSandboxStatus(Convert<V1.PodSandboxStatusRequest>(request), context).ConfigureAwait(false));

    public override async Task<ListPodSandboxResponse> ListPodSandbox(ListPodSandboxRequest request, ServerCallContext context) =>
        Convert<ListPodSandboxResponse>(await _v1.ListPodSandbox(Convert<V1.ListPodSandboxRequest>(request), context).ConfigureAwait(false));

    public override async Task<CreateContainerResponse> CreateContainer(CreateContainerRequest request, ServerCallContext context) =>
        Convert<CreateContainerResponse>(await _v1.CreateContainer(Convert<V1.CreateContainerRequest>(request), context).ConfigureAwait(false));

    public override async Task<StartContainerResponse> StartContainer(StartContainerRequest request, ServerCallContext context) =>
        Convert<StartContainerResponse>(await _v1.StartContainer(Convert<V1.StartContainerRequest>(request), context).ConfigureAwait(false));

    public override async Task<StopContainerResponse> StopContainer(StopContainerRequest request, ServerCallContext context) =>
        Convert<StopContainerResponse>(await _v1.StopContainer(Convert<V1.StopContainerRequest>(request), context).ConfigureAwait(false));

    public override async Task<RemoveContainerResponse> RemoveContainer(RemoveContainerRequest request, ServerCallContext context) =>
        Convert<RemoveContainerResponse>(await _v1.RemoveContainer(Convert<V1.RemoveContainerRequest>(request), context).ConfigureAwait(false));

    public override async Task<ListContainersResponse> ListContainers(ListContainersRequest request, ServerCallContext context) =>
        Convert<ListContainersResponse>(await _v1.ListContainers(Convert<V1.ListContainersRequest>(request), context).ConfigureAwait(false));

    public override async Task<ContainerStatusResponse> ContainerStatus(ContainerStatusRequest request, ServerCallContext context) =>
        Convert<ContainerStatusResponse>(await _v1.ContainerStatus(Convert<V1.ContainerStatusRequest>(request), context).ConfigureAwait(false));

    public override async Task<UpdateContainerResourcesResponse> UpdateContainerResources(UpdateContainerResourcesRequest request, ServerCallContext context) =>
        Convert<UpdateContainerResourcesResponse>(await _v1.UpdateContainerResources(Convert<V1.UpdateContainerResourcesRequest>(request), context).ConfigureAwait(false));

    public override async Task<ReopenContainerLogResponse> ReopenContainerLog(ReopenContainerLogRequest request, ServerCallContext context) =>
        Convert<ReopenContainerLogResponse>(await _v1.ReopenContainerLog(Convert<V1.ReopenContainerLogRequest>(request), context).ConfigureAwait(false));

    public override async Task<ExecSyncResponse> ExecSync(ExecSyncRequest request, ServerCallContext context) =>
        Convert<ExecSyncResponse>(await _v1.ExecSync(Convert<V1.ExecSyncRequest>(request), context).ConfigureAwait(false));

    public override async Task<ExecResponse> Exec(ExecRequest request, ServerCallContext context) =>
        Convert<ExecResponse>(await _v1.Exec(Convert<V1.ExecRequest>(request), context).ConfigureAwait(false));

    public override async Task<AttachResponse> Attach(AttachRequest request, ServerCallContext context) =>
        Convert<AttachResponse>(await _v1.Attach(Convert<V1.AttachRequest>(request), context).ConfigureAwait(false));

    public override async Task<PortForwardResponse> PortForward(PortForwardRequest request, ServerCallContext context) =>
        Convert<PortForwardResponse>(await _v1.PortForward(Convert<V1.PortForwardRequest>(request), context).ConfigureAwait(false));

    public override async Task<ContainerStatsResponse> ContainerStats(ContainerStatsRequest request, ServerCallContext context) =>
        Convert<ContainerStatsResponse>(await _v1.ContainerStats(Convert<V1.ContainerStatsRequest>(request), context).ConfigureAwait(false));

    public override async Task<ListContainerStatsResponse> ListContainerStats(ListContainerStatsRequest request, ServerCallContext context) =>
        Convert<ListContainerStatsResponse>(await _v1.ListContainerStats(Convert<V1.ListContainerStatsRequest>(request), context).ConfigureAwait(false));

    public override async Task<PodSandboxStatsResponse> PodSandboxStats(PodSandboxStatsRequest request, ServerCallContext context) =>
        Convert<PodSandboxStatsResponse>(await _v1.PodSandboxStats(Convert<V1.PodSandboxStatsRequest>(request), context).ConfigureAwait(false));

    public override async Task<ListPodSandboxStatsResponse> ListPodSandboxStats(ListPodSandboxStatsRequest request, ServerCallContext context) =>
        Convert<ListPodSandboxStatsResponse>(await _v1.ListPodSandboxStats(Convert<V1.ListPodSandboxStatsRequest>(request), context).ConfigureAwait(false));

    public override async Task<UpdateRuntimeConfigResponse> UpdateRuntimeConfig(UpdateRuntimeConfigRequest request, ServerCallContext context) =>
        Convert<UpdateRuntimeConfigResponse>(await _v1.UpdateRuntimeConfig(Convert<V1.UpdateRuntimeConfigRequest>(request), context).ConfigureAwait(false));

    public override async Task<StatusResponse> Status(StatusRequest request, ServerCallContext context) =>
        Convert<StatusResponse>(await _v1.Status(Convert<V1.StatusRequest>(request), context).ConfigureAwait(false));
}

/// <summary>runtime.v1alpha2 ImageService over <see cref="CriImageService"/> (see <see cref="WireBridge"/>).</summary>
public sealed class V1Alpha2ImageService : ImageService.ImageServiceBase
{
    private readonly CriImageService _v1;

    public V1Alpha2ImageService(CriImageService v1) => _v1 = v1;

    private static T Convert<T>(IMessage message) where T : IMessage<T>, new() => WireBridge.Convert<T>(message);

    public override async Task<ListImagesResponse> ListImages(ListImagesRequest request, ServerCallContext context) =>
        Convert<ListImagesResponse>(await _v1.ListImages(Convert<V1.ListImagesRequest>(request), context).ConfigureAwait(false));

    public override async Task<ImageStatusResponse> ImageStatus(ImageStatusRequest request, ServerCallContext context) =>
        Convert<ImageStatusResponse>(await _v1.ImageStatus(Convert<V1.ImageStatusRequest>(request), context).ConfigureAwait(false));

    public override async Task<PullImageResponse> PullImage(PullImageRequest request, ServerCallContext context) =>
        Convert<PullImageResponse>(await _v1.PullImage(Convert<V1.PullImageRequest>(request), context).ConfigureAwait(false));

    public override async Task<RemoveImageResponse> RemoveImage(RemoveImageRequest request, ServerCallContext context) =>
        Convert<RemoveImageResponse>(await _v1.RemoveImage(Convert<V1.RemoveImageRequest>(request), context).ConfigureAwait(false));

    public override async Task<ImageFsInfoResponse> ImageFsInfo(ImageFsInfoRequest request, ServerCallContext context) =>
        Convert<ImageFsInfoResponse>(await _v1.ImageFsInfo(Convert<V1.ImageFsInfoRequest>(request), context).ConfigureAwait(false));
}
