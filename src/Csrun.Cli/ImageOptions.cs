using System.CommandLine;
using Csrun.Images.Content;
using Csrun.Images.Pull;
using Csrun.Images.Registry;
using Csrun.Images.Store;

namespace Csrun.Cli;

/// <summary>Options every image-using command shares, and the objects they build.</summary>
internal static class ImageOptions
{
    public static readonly Option<string> ImageRoot = new("--image-root") { Description = "image store directory ($CSRUN_IMAGE_ROOT, default /var/lib/csrun)", DefaultValueFactory = _ => ImageStore.DefaultRoot, Recursive = true };
    public static readonly Option<string?> PlatformOpt = new("--platform") { Description = "os/arch[/variant] to pull or use (default: this host's)" };
    public static readonly Option<string?> RegistriesConf = new("--registries-conf") { Description = "registry configuration (mirrors, plain-http hosts); default $CSRUN_REGISTRIES_CONF or /etc/csrun/registries.json" };
    public static readonly Option<string?> AuthFile = new("--authfile") { Description = "docker-style config.json with registry credentials" };
    public static readonly Option<string?> Creds = new("--creds") { Description = "USER:PASSWORD for the registry of this reference" };

    public static void AddPullOptions(Command c)
    {
        c.Options.Add(PlatformOpt);
        c.Options.Add(RegistriesConf);
        c.Options.Add(AuthFile);
        c.Options.Add(Creds);
    }

    public static ImageStore Store(ParseResult p) => new(p.GetValue(ImageRoot)!);

    public static Platform Platform(ParseResult p) =>
        p.GetValue(PlatformOpt) is { } s ? PlatformSelector.Parse(s) : PlatformSelector.Default;

    public static ResolvedImage Pull(ParseResult p, ImageStore store, string reference)
    {
        var r = ImageReference.Parse(reference);
        AuthConfig auth;
        if (p.GetValue(Creds) is { } creds)
        {
            int colon = creds.IndexOf(':');
            if (colon <= 0) throw new ImageException("--creds: want USER:PASSWORD");
            auth = AuthConfig.FromCredentials(r.Registry, creds[..colon], creds[(colon + 1)..]);
        }
        else auth = AuthConfig.Load(p.GetValue(AuthFile));
        using var client = new RegistryClient(RegistryConfig.Load(p.GetValue(RegistriesConf)), auth);
        using var progress = Console.IsOutputRedirected ? null : new TerminalProgress();
        var puller = new ImagePuller(store, client);
        var options = new PullOptions { Platform = Platform(p), Progress = progress, Rootless = Csrun.Linux.Libc.GetEuid() != 0 };
        return puller.PullAsync(r, options).GetAwaiter().GetResult();
    }
}

/// <summary>One line per layer, redrawn in place at most ten times a second; only on a terminal.</summary>
internal sealed class TerminalProgress : IPullProgress, IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<string> _order = [];
    private readonly Dictionary<string, string> _lines = [];
    private int _drawn;
    private long _lastDraw;

    public void Report(Descriptor blob, PullPhase phase, long current, long total)
    {
        string id = blob.Digest.Length > 19 ? blob.Digest[7..19] : blob.Digest;
        string text = phase switch
        {
            PullPhase.Downloading => $"downloading {Commands.ImageCommands.HumanSize(current)} / {Commands.ImageCommands.HumanSize(total)}",
            PullPhase.Waiting => "waiting",
            PullPhase.Downloaded => "downloaded",
            PullPhase.Exists => "already exists",
            PullPhase.Unpacking => "unpacking",
            _ => "done",
        };
        lock (_lock)
        {
            if (!_lines.ContainsKey(id)) _order.Add(id);
            _lines[id] = $"{id}: {text}";
            long now = Environment.TickCount64;
            if (phase == PullPhase.Downloading && now - _lastDraw < 100) return;
            _lastDraw = now;
            Draw();
        }
    }

    private void Draw()
    {
        var sb = new System.Text.StringBuilder();
        if (_drawn > 0) sb.Append($"\x1b[{_drawn}A");
        foreach (var id in _order) sb.Append("\x1b[2K").Append(_lines[id]).Append('\n');
        _drawn = _order.Count;
        Console.Out.Write(sb.ToString());
        Console.Out.Flush();
    }


    public void Dispose()
    {
        lock (_lock) if (_order.Count > 0) Draw();
    }
}
