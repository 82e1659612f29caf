using Csrun.Cri.V1;
using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>runtime.v1 ImageService: images from the store of the images issue (src/Csrun.Images) once it lands.</summary>
/// <remarks>UNIMPLEMENTED: every method answers StatusCode.Unimplemented until issue 6 fills it in.</remarks>
public sealed class CriImageService : ImageService.ImageServiceBase
{
    public override Task<ListImagesResponse> ListImages(ListImagesRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ListImages));

    public override Task StreamImages(StreamImagesRequest request, IServerStreamWriter<StreamImagesResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamImages));

    public override Task<ImageStatusResponse> ImageStatus(ImageStatusRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ImageStatus));

    public override Task<PullImageResponse> PullImage(PullImageRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(PullImage));

    public override Task<RemoveImageResponse> RemoveImage(RemoveImageRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(RemoveImage));

    public override Task<ImageFsInfoResponse> ImageFsInfo(ImageFsInfoRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(ImageFsInfo));
}
