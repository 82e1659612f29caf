namespace Csrun.Tests;

/// <summary>A non-root user (nobody, through setpriv) runs a busybox container from `csrun spec --rootless`.</summary>
public class RootlessTests
{
    [Fact]
    public void Nobody_runs_a_container_in_a_user_namespace_without_cgroups()
    {
        using var sb = new Sandbox();
        string bundle = Path.Combine(sb.Dir, "rootless");
        string state = Path.Combine(sb.Dir, "rootless-state");
        Directory.CreateDirectory(bundle);
        Directory.CreateDirectory(state);
        Sandbox.Exec("cp", "-a", TestEnv.BusyboxRootfs, Path.Combine(bundle, "rootfs"));
        // The user owns its bundle and state directory; the rootfs stays root's (read and execute suffice).
        Assert.Equal(0, Sandbox.Exec("chown", "65534:65534", sb.Dir, bundle, state).ExitCode);
        string[] asNobody = ["--reuid", "65534", "--regid", "65534", "--clear-groups", TestEnv.CsrunBinary, "--root", state];
        var spec = Sandbox.Run("setpriv", [.. asNobody, "spec", "--rootless", "--bundle", bundle], TimeSpan.FromSeconds(30));
        Assert.True(spec.ExitCode == 0, spec.ToString());
        string cfg = File.ReadAllText(Path.Combine(bundle, "config.json"));
        Assert.Contains("\"hostID\": 65534", cfg);
        Assert.DoesNotContain("gid=5", cfg);
        File.WriteAllText(Path.Combine(bundle, "config.json"), cfg.Replace("\"terminal\": true", "\"terminal\": false")
            .Replace("\"sh\"", "\"sh\", \"-c\", \"id -u; cat /proc/self/uid_map; echo $$\""));
        string id = "rootless-" + Guid.NewGuid().ToString("N")[..8];
        var r = Sandbox.Run("setpriv", [.. asNobody, "run", "--bundle", bundle, id], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", lines[0].Trim());
        Assert.Equal("0 65534 1", string.Join(' ', lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal("1", lines[2].Trim());
        Assert.Contains("without cgroups", r.Stderr);
        Assert.False(Directory.Exists(Path.Combine(state, id)), "state left behind");
        Assert.Empty(Leaks.CgroupDirs("csrun/" + id));
    }
}
