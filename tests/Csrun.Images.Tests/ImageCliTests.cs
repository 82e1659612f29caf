using System.Diagnostics;
using Csrun.Images.Tests.Fixtures;

namespace Csrun.Images.Tests;

/// <summary>`csrun image pull` and `csrun run --image` against a local registry, through the built binary.</summary>
public sealed class ImageCliTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine("/var/tmp", "csrun-cli-" + Guid.NewGuid().ToString("N")[..10]);
    private RegistryServer _reg = null!;

    private static string Csrun
    {
        get
        {
            string p = Environment.GetEnvironmentVariable("CSRUN_BINARY") ?? "";
            Assert.True(File.Exists(p), $"csrun binary not found at \"{p}\": run `make build` and set CSRUN_BINARY (make test does)");
            return p;
        }
    }

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _reg = await RegistryServer.StartAsync(basicAuth: ("carol", "pw"));
        using var p = new RegistryPusher(_reg.BaseUri, ("carol", "pw"));
        await p.PushLayoutAsync(TestImages.Layout("layered"), "apps/layered", "1.0");
    }

    public async Task DisposeAsync()
    {
        try { Run("--root", Path.Combine(_dir, "state"), "delete", "--force", "cli-pulled"); }
        catch (Exception) { } // nothing to delete, or no binary (the test itself said so)
        await _reg.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Csrun) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var err = p.StandardError.ReadToEndAsync();
        string o = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "csrun did not finish");
        return (p.ExitCode, o, err.Result);
    }

    [Fact]
    public void PullIsQuietWithoutATerminalAndRunUsesThePulledImage()
    {
        string store = Path.Combine(_dir, "store"), reference = $"{_reg.Host}/apps/layered:1.0";
        var r = Run("image", "--image-root", store, "pull", reference);
        Assert.Equal(1, r.Code);
        Assert.Contains("requires credentials", r.Err);

        r = Run("image", "--image-root", store, "pull", "--creds", "carol:pw", reference);
        Assert.True(r.Code == 0, r.Err);
        // Not a terminal: no progress lines, just the result.
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith($"{reference} sha256:", lines[0]);

        r = Run("image", "--image-root", store, "list", "-q");
        Assert.Equal(reference, r.Out.Trim());

        r = Run("--root", Path.Combine(_dir, "state"), "run", "--image-root", store, "--rm", "--name", "cli-pulled", "--pull", "never",
            "--image", reference, "echo $GREETING; cat /srv/www/index.html");
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("hello\n<h1>hello</h1>\n", r.Out);
    }

    [Fact]
    public void RunPullsAMissingImageWithCredentialsFromAnAuthFile()
    {
        string store = Path.Combine(_dir, "store2"), auth = Path.Combine(_dir, "auth.json");
        File.WriteAllText(auth, $"{{\"auths\":{{\"{_reg.Host}\":{{\"username\":\"carol\",\"password\":\"pw\"}}}}}}");
        var r = Run("--root", Path.Combine(_dir, "state"), "run", "--image-root", store, "--authfile", auth, "--rm", "--name", "cli-pulled",
            "--image", $"{_reg.Host}/apps/layered:1.0", "id -u"); // the image's entrypoint is sh -c
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("1500", r.Out.Trim().Split('\n')[^1]);
        Assert.False(Directory.Exists(Path.Combine(store, "bundles", "cli-pulled")));
    }

    [Fact]
    public async Task PullsOverTlsFromAMirror()
    {
        // The executable is static with OpenSSL linked in (a libssl loaded into it with dlopen crashed on a
        // pull like this): layers come over TLS, several at once, from a mirror given as an https URL.
        await using var tls = await RegistryServer.StartAsync(tls: true);
        using (var p = new RegistryPusher(tls.BaseUri, handler: tls.NewHandler()))
            await p.PushLayoutAsync(TestImages.Layout("layered"), "apps/layered", "1.0");
        string store = Path.Combine(_dir, "store-tls"), conf = Path.Combine(_dir, "registries-tls.json");
        File.WriteAllText(conf, $"{{\"registries\":{{\"registry.invalid\":{{\"mirrors\":[\"{tls.BaseUri}\"]}}}}}}");

        var r = Run("image", "--image-root", store, "pull", "--registries-conf", conf, "registry.invalid/apps/layered:1.0");
        Assert.True(r.Code == 0, r.Err);
        Assert.StartsWith("registry.invalid/apps/layered:1.0 sha256:", r.Out);
        r = Run("--root", Path.Combine(_dir, "state"), "run", "--image-root", store, "--rm", "--name", "cli-pulled", "--pull", "never",
            "--image", "registry.invalid/apps/layered:1.0", "cat /srv/www/index.html");
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("<h1>hello</h1>\n", r.Out);
    }

    [Fact]
    public void PullShowsPerLayerProgressOnATerminal()
    {
        // script(1) gives csrun a pseudo-terminal as stdout.
        string store = Path.Combine(_dir, "store3");
        string cmd = $"{Csrun} image --image-root {store} pull --creds carol:pw {_reg.Host}/apps/layered:1.0";
        var r = RunScript(cmd);
        Assert.True(r.Code == 0, r.Out);
        Assert.Contains("\x1b[2K", r.Out); // lines redrawn in place
        Assert.Contains(": done", r.Out);
        Assert.True(r.Out.Split(": done").Length - 1 >= 3, "one done line per layer: " + r.Out);
    }

    private static (int Code, string Out) RunScript(string cmd)
    {
        var psi = new ProcessStartInfo("script") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-qec", cmd, "/dev/null" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string o = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "script did not finish");
        return (p.ExitCode, o);
    }
}
