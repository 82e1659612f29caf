using System.Diagnostics;

namespace Csrun.Cri.Tests;

internal static class Sh
{
    /// <summary>Runs a program to completion: exit code and stdout+stderr.</summary>
    public static (int Exit, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + err.Result);
    }

    public static string Ok(string file, params string[] args)
    {
        (int exit, string output) = Run(file, args);
        Assert.True(exit == 0, $"{file} {string.Join(' ', args)} exited {exit}: {output}");
        return output;
    }

    /// <summary>A name unique to this run, short enough for an interface name (15 bytes).</summary>
    public static string UniqueName(string prefix) => prefix + Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant()[..8];
}

/// <summary>A directory deleted at the end of a test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir(string root = "/tmp") => Path = Directory.CreateDirectory(System.IO.Path.Combine(root, Sh.UniqueName("csrt-"))).FullName;

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>csrund served in process (CriHost, as the csrund executable starts it) with its socket, CNI, netns and
/// image directories in a test's own directory, and a gRPC channel to it over the unix socket.</summary>
internal sealed class CriDaemon : IAsyncDisposable
{
    public required CriOptions Options { get; init; }
    public required Microsoft.AspNetCore.Builder.WebApplication App { get; init; }
    public required Grpc.Net.Client.GrpcChannel Channel { get; init; }

    public static async Task<CriDaemon> StartAsync(TempDir dir, Action<CriOptions>? configure = null, CriOptions? baseOptions = null)
    {
        var options = baseOptions ?? new CriOptions
        {
            SocketPath = dir.Combine("run", "csrund.sock"),
            CniConfigDirs = [dir.Combine("net.d")],
            NetnsDirectory = dir.Combine("netns"),
            ImageRoot = dir.Combine("images"),
            StateRoot = dir.Combine("state"),
        };
        configure?.Invoke(options);
        var app = await CriHost.StartAsync(options);
        return new CriDaemon { Options = options, App = app, Channel = Connect(options.SocketPath) };
    }

    public static Grpc.Net.Client.GrpcChannel Connect(string socketPath) =>
        Grpc.Net.Client.GrpcChannel.ForAddress("http://localhost", new Grpc.Net.Client.GrpcChannelOptions { HttpHandler = Handler(socketPath) });

    public static SocketsHttpHandler Handler(string socketPath) =>
            new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath), ct);
                        return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            };

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await CriHost.StopAsync(App, Options);
    }
}
