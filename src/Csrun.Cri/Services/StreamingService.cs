using Csrun.Cri.V1;
using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>Exec, Attach and PortForward answer with a URL of csrund's streaming server (SPDY/3.1 and websocket), which does the work.</summary>
/// <remarks>UNIMPLEMENTED: every method answers StatusCode.Unimplemented until issue 6 fills it in.</remarks>
public sealed class StreamingService
{
    public Task<ExecResponse> Exec(ExecRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(Exec));

    public Task<AttachResponse> Attach(AttachRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(Attach));

    public Task<PortForwardResponse> PortForward(PortForwardRequest request, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(PortForward));
}
