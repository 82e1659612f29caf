using Csrun.Cri;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

// csrund: the Kubernetes CRI (runtime.v1 and runtime.v1alpha2) on a unix socket.
//   csrund [--listen SOCKET] [--root DIR] [--cni-conf-dir DIR]... [--cni-bin-dir DIR]... [--netns-dir DIR] [--image-root DIR] [--registries-conf FILE]
var options = new CriOptions();
List<string>? confDirs = null, binDirs = null;
for (int i = 0; i < args.Length; i++)
{
    string arg = args[i];
    if (arg is "-h" or "--help")
    {
        Console.WriteLine("""
            usage: csrund [options]
              --listen SOCKET      unix socket to serve the CRI on (default /run/csrund/csrund.sock)
              --cni-conf-dir DIR   where network configs are read, first one by name (default /etc/cni/net.d; repeatable)
              --cni-bin-dir DIR    where CNI plugins are found (default /usr/lib/cni and /opt/cni/bin; repeatable)
              --netns-dir DIR      where pod network namespaces are held (default /run/csrund/netns)
              --root DIR           csrund's pods, containers and their runtime state (default /var/lib/csrund)
              --streaming-address IP:PORT  exec/attach/port-forward server (default 127.0.0.1:0, a free port)
              --image-root DIR     the image store, shared with csrun (default $CSRUN_IMAGE_ROOT or /var/lib/csrun)
              --registries-conf F  mirrors and plain-http registries (default $CSRUN_REGISTRIES_CONF or /etc/csrun/registries.json)
            """);
        return 0;
    }
    if (i + 1 >= args.Length || !arg.StartsWith("--", StringComparison.Ordinal))
    {
        Console.Error.WriteLine($"csrund: {(arg.StartsWith("--", StringComparison.Ordinal) ? $"{arg} needs a value" : $"unexpected argument \"{arg}\"")}");
        return 2;
    }
    string value = args[++i];
    switch (arg)
    {
        case "--listen": options.SocketPath = value.StartsWith("unix://", StringComparison.Ordinal) ? value["unix://".Length..] : value; break;
        case "--cni-conf-dir": (confDirs ??= []).Add(value); break;
        case "--cni-bin-dir": (binDirs ??= []).Add(value); break;
        case "--netns-dir": options.NetnsDirectory = value; break;
        case "--image-root": options.ImageRoot = value; break;
        case "--root": options.StateRoot = value; break;
        case "--streaming-address": options.StreamingEndpoint = System.Net.IPEndPoint.Parse(value); break;
        case "--registries-conf": options.RegistriesConfigPath = value; break;
        default:
            Console.Error.WriteLine($"csrund: unknown option {arg}");
            return 2;
    }
}
if (confDirs is not null)
    options.CniConfigDirs = confDirs;
if (binDirs is not null)
    options.CniPluginDirs = binDirs;

WebApplication app;
try
{
    app = await CriHost.StartAsync(options);
}
catch (IOException e)
{
    Console.Error.WriteLine($"csrund: {e.Message}");
    return 1;
}
Console.Error.WriteLine($"csrund: serving the CRI on unix://{options.SocketPath}");
await app.WaitForShutdownAsync();
await CriHost.StopAsync(app, options);
return 0;
