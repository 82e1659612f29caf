using Grpc.Core;

namespace Csrun.Cri;

/// <summary>The gRPC statuses csrund answers bad requests with; every message names the request field.</summary>
public static class CriErrors
{
    public static RpcException InvalidArgument(string field, string message) =>
        new(new Status(StatusCode.InvalidArgument, $"{field}: {message}"));

    public static RpcException NotFound(string what, string id) =>
        new(new Status(StatusCode.NotFound, $"{what} \"{id}\" not found"));

    public static RpcException AlreadyExists(string message) => new(new Status(StatusCode.AlreadyExists, message));

    public static RpcException FailedPrecondition(string message) => new(new Status(StatusCode.FailedPrecondition, message));

    public static RpcException Internal(string message) => new(new Status(StatusCode.Internal, message));

    public static string Require(string? value, string field) =>
        string.IsNullOrEmpty(value) ? throw InvalidArgument(field, "must not be empty") : value;

    /// <summary>64 hex digits, as containerd's ids: unique, and crictl shortens them for display.</summary>
    public static string NewId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    public static long Now() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
}
