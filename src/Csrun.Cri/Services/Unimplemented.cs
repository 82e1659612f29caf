using Grpc.Core;

namespace Csrun.Cri.Services;

/// <summary>
/// The answer of every RPC csrund does not do yet. Each such method is one line calling this, so
/// `grep -rn Unimplemented.Rpc src/Csrun.Cri` lists exactly what is left of issue 6.
/// </summary>
internal static class Unimplemented
{
    public static RpcException Rpc(string rpc) =>
        new(new Status(StatusCode.Unimplemented, $"csrund: {rpc} is not implemented yet"));
}
