using System.Net.Sockets;
using Csrun.Cni;
using Csrun.Cri.Services;
using Csrun.Linux;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Csrun.Cri;

/// <summary>
/// csrund's server: Kestrel on a unix socket, HTTP/2 only (gRPC without TLS, as kubelet and crictl speak it
/// over unix sockets), serving runtime.v1 and runtime.v1alpha2. The daemon and the tests both start it here.
/// </summary>
public static class CriHost
{
    // Owner and group read/write: the socket is as powerful as root on this machine.
    private const UnixFileMode SocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;

    public static WebApplication Build(CriOptions options, Action<ILoggingBuilder>? logging = null)
    {
        PrepareSocketPath(options.SocketPath);

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // No HPACK dynamic table: lets UnixAuthority rewrite each request's :authority on its own.
            kestrel.Limits.Http2.HeaderTableSize = 0;
            // The streaming server (exec, attach, port-forward): HTTP/1.1, for the SPDY and websocket upgrades.
            kestrel.Listen(options.StreamingEndpoint, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.ListenUnixSocket(options.SocketPath, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.Use(UnixAuthority.Middleware);
            });
        });

        IServiceCollection services = builder.Services;
        services.AddGrpc(grpc => grpc.EnableDetailedErrors = true);
        services.AddSingleton(options);
        services.AddSingleton(new NetworkNamespaces(options.NetnsDirectory));
        services.AddSingleton(new State.CriStore(options.StateRoot));
        services.AddSingleton<Containers.ContainerEvents>();
        services.AddSingleton<Streaming.StreamRequests>();
        services.AddSingleton<RuntimeStatusService>();
        services.AddSingleton<PodSandboxService>();
        services.AddSingleton<ContainerService>();
        services.AddSingleton<StreamingService>();
        services.AddSingleton<StatsService>();
        services.AddSingleton<CriRuntimeService>();
        services.AddSingleton<CriImageService>();
        services.AddSingleton<V1Alpha2RuntimeService>();
        services.AddSingleton<V1Alpha2ImageService>();

        WebApplication app = builder.Build();
        app.MapGrpcService<CriRuntimeService>();
        app.MapGrpcService<CriImageService>();
        app.MapGrpcService<V1Alpha2RuntimeService>();
        app.MapGrpcService<V1Alpha2ImageService>();
        Streaming.StreamingServer.Map(app);
        return app;
    }

    /// <summary>Builds and starts the server; the socket is 0660 by the time this returns.</summary>
    public static async Task<WebApplication> StartAsync(CriOptions options, Action<ILoggingBuilder>? logging = null,
        CancellationToken cancellationToken = default)
    {
        WebApplication app = Build(options, logging);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            File.SetUnixFileMode(options.SocketPath, SocketMode);
            string streaming = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses
                .First(a => a.StartsWith("http://", StringComparison.Ordinal) && !a.Contains("unix:", StringComparison.Ordinal));
            app.Services.GetRequiredService<Streaming.StreamRequests>().BaseUrl = streaming.TrimEnd('/');
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return app;
    }

    /// <summary>Stops the server and removes its socket file.</summary>
    public static async Task StopAsync(WebApplication app, CriOptions options)
    {
        try
        {
            await app.StopAsync().ConfigureAwait(false);
        }
        finally
        {
            await app.DisposeAsync().ConfigureAwait(false);
            File.Delete(options.SocketPath);
        }
    }

    /// <summary>
    /// Creates the socket's directory and removes a socket left by a daemon that died, but refuses to take over a
    /// socket another server still answers on, or a path that is not a socket.
    /// </summary>
    internal static void PrepareSocketPath(string path)
    {
        string? dir = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);

        if (!File.Exists(path) && !Directory.Exists(path))
            return;
        if (!IsSocket(path))
            throw new IOException($"{path} exists and is not a socket");
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path); // Nobody listens: a stale socket.
            return;
        }
        throw new IOException($"{path}: another server is listening on it");
    }

    private static bool IsSocket(string path)
    {
        // .NET has no file type for sockets; open(2) of one fails with ENXIO, of anything else it does not.
        int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (fd >= 0)
            Libc.Close(fd);
        return fd < 0 && Errno.Last == Libc.ENXIO;
    }
}
