namespace Csrun.Tests;

/// <summary>
/// Debian's podman 4.3 with conmon, told to use csrun as its OCI runtime. All of podman's storage and state
/// live under the fixture's directory (vfs driver, cgroupfs, file events and locks, --network none).
/// Podman asks for RLIMIT_NOFILE/NPROC above this VM's hard limits, which needs CAP_SYS_RESOURCE (absent
/// here, and runc fails the same way), so the tests pass ulimits the VM allows.
/// </summary>
public sealed class PodmanFixture : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "csrun-podman-" + Guid.NewGuid().ToString("N")[..8]);
    // Podman as root keeps its image blob-info cache here, whatever --root says.
    private readonly MadeHere _machine = new("/var/lib/containers/cache/blob-info-cache-v1.boltdb", "/var/lib/containers/cache", "/var/lib/containers");
    public string Image { get; }

    public PodmanFixture()
    {
        TestEnv.RequireRoot();
        Assert.True(File.Exists("/usr/bin/podman") && File.Exists("/usr/bin/conmon"), "podman and conmon are not installed (Debian packages podman, conmon; `make test` installs them)");
        Directory.CreateDirectory(Dir);
        // File locks under --tmpdir instead of the shared-memory segment podman otherwise keeps machine-wide
        // (/dev/shm/libpod_lock), so that the fixture's Dir holds all of podman's state.
        File.WriteAllText(ConfPath, "[engine]\nlock_type = \"file\"\n");
        string tar = Path.Combine(Dir, "image.tar");
        OciArchive.Write(TestEnv.BusyboxRootfs, tar, "docker.io/library/csrun-busybox:test");
        var load = Podman("load", "-i", tar);
        Assert.True(load.ExitCode == 0, load.ToString());
        Image = "docker.io/library/csrun-busybox:test";
    }

    /// <summary>podman's global options: every file it keeps under Dir, csrun as its runtime.</summary>
    private string[] GlobalArgs =>
        ["--root", Path.Combine(Dir, "storage"), "--runroot", Path.Combine(Dir, "run"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
         "--events-backend", "file", "--tmpdir", Path.Combine(Dir, "tmp"), "--network-config-dir", Path.Combine(Dir, "net"),
         "--runtime", TestEnv.CsrunBinary];

    private string ConfPath => Path.Combine(Dir, "containers.conf");

    /// <summary>podman as the tests run it: the fixture's containers.conf and global options.</summary>
    public string[] Command => ["env", "CONTAINERS_CONF=" + ConfPath, "/usr/bin/podman", .. GlobalArgs];

    public ProcResult Podman(params string[] args) => Sandbox.Run(Command[0], [.. Command[1..], .. args], TimeSpan.FromSeconds(120));

    // Containers (and conmon) under csrun's own cgroup subtree, not podman's default /libpod_parent.
    public static readonly string[] Limits = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroup-parent", "/csrun/podman-tests"];

    public void Dispose()
    {
        Podman("rm", "-af", "-t", "0");
        Podman("rmi", "-af");
        foreach (var m in Leaks.Mounts(Dir).OrderByDescending(m => m.Length)) Sandbox.Exec("umount", "-l", m);
        try { Directory.Delete(Dir, true); } catch (IOException) { }
        _machine.Remove();
        // The cgroup parent podman made for its containers and conmon (empty once they are gone).
        foreach (string hierarchy in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            string parent = hierarchy + "/csrun/podman-tests";
            if (!Directory.Exists(parent)) continue;
            foreach (string d in Directory.GetDirectories(parent, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(parent))
                try { Directory.Delete(d); } catch (IOException) { }
        }
    }
}

public class PodmanTests(PodmanFixture pm) : IClassFixture<PodmanFixture>
{
    [Fact]
    public void Podman_run_rm_returns_the_exit_code_with_podmans_seccomp_profile()
    {
        var r = pm.Podman(["run", "--rm", .. PodmanFixture.Limits, pm.Image, "sh", "-c", "echo hello from podman; grep '^Seccomp:' /proc/self/status; exit 3"]);
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("hello from podman", r.Stdout);
        Assert.Contains("Seccomp:\t2", r.Stdout);
    }

    [Fact]
    public void Podman_run_d_exec_pause_stats_logs_stop()
    {
        string name = "pm-" + Guid.NewGuid().ToString("N")[..8];
        var r = pm.Podman(["run", "-d", "--name", name, .. PodmanFixture.Limits, pm.Image, "sh", "-c", "echo started; trap 'exit 0' TERM; while true; do sleep 0.2; done"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        try
        {
            var exec = pm.Podman("exec", name, "sh", "-c", "echo exec-ok; cat /proc/1/comm; exit 4");
            Assert.Equal(4, exec.ExitCode);
            Assert.Contains("exec-ok\nsh", exec.Stdout);
            Assert.Equal(0, pm.Podman("pause", name).ExitCode);
            Assert.Contains("paused", pm.Podman("inspect", "--format", "{{.State.Status}}", name).Stdout);
            Assert.Equal(0, pm.Podman("unpause", name).ExitCode);
            Assert.Contains("running", pm.Podman("inspect", "--format", "{{.State.Status}}", name).Stdout);
            var stats = pm.Podman("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name);
            Assert.True(stats.ExitCode == 0, stats.ToString());
            Assert.Matches($@"{name} [1-9]", stats.Stdout);
            Assert.Contains(name, pm.Podman("ps", "--format", "{{.Names}}").Stdout);
            Assert.Contains("started", pm.Podman("logs", name).Stdout);
            Assert.Equal(0, pm.Podman("stop", "-t", "10", name).ExitCode);
            Assert.Contains("exited", pm.Podman("inspect", "--format", "{{.State.Status}}", name).Stdout);
            Assert.Equal("0", pm.Podman("inspect", "--format", "{{.State.ExitCode}}", name).Stdout.Trim());
        }
        finally
        {
            pm.Podman("rm", "-f", "-t", "0", name);
        }
    }

    [Fact]
    public void Podman_run_read_only_gets_writable_tmpfs_copied_up()
    {
        // --read-only: podman asks for tmpfs mounts with runc's tmpcopyup on /run, /tmp and /var/tmp.
        var r = pm.Podman(["run", "--rm", "--read-only", .. PodmanFixture.Limits, pm.Image, "sh", "-c",
            "touch /etc/x 2>/dev/null || echo root-read-only; touch /tmp/x && echo tmp-writable; grep ' /tmp ' /proc/self/mountinfo | cut -d' ' -f9"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("root-read-only\ntmp-writable\ntmpfs", r.Stdout.Trim());
    }

    [Fact]
    public void Podman_run_it_gets_a_tty_through_conmons_console_socket()
    {
        // script(1) gives podman a terminal; conmon receives the pty master from csrun over its console socket.
        // The output is read back from conmon's log: the live attach may start after a short-lived process wrote.
        string name = "pm-tty-" + Guid.NewGuid().ToString("N")[..8];
        string cmd = string.Join(' ', [.. pm.Command, "run", "-it", "--name", name, .. PodmanFixture.Limits,
            pm.Image, "sh", "-c", "'tty; [ -t 0 ] && echo stdin-is-a-tty; exit 5'"]);
        try
        {
            var r = Sandbox.Run("/usr/bin/script", ["-qec", cmd, "/dev/null"], TimeSpan.FromSeconds(120));
            Assert.True(r.ExitCode == 5, r.ToString());
            var logs = pm.Podman("logs", name);
            Assert.Contains("/dev/pts/0", logs.Stdout);
            Assert.Contains("stdin-is-a-tty", logs.Stdout);
        }
        finally
        {
            pm.Podman("rm", "-f", "-t", "0", name);
        }
    }
}
