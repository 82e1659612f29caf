using System.Text.Json;

namespace Csrun.Tests;

/// <summary>`exec`: a process in every namespace and the cgroup of a running container.</summary>
public class ExecTests
{
    private static string StartSleeper(Sandbox sb)
    {
        string id = sb.NewId();
        var r = sb.Csrun("run", "-d", "--bundle", sb.Bundle(s => s.Hostname = "exec-box", "sh", "-c", "echo from-init > /tmp/marker; exec sleep 300"), id);
        Assert.True(r.ExitCode == 0, r.ToString());
        return id;
    }

    private static int InitPid(Sandbox sb, string id) =>
        JsonDocument.Parse(sb.Csrun("state", id).Stdout).RootElement.GetProperty("pid").GetInt32();

    [Fact]
    public void Exec_joins_every_namespace_and_the_cgroup()
    {
        using var sb = new Sandbox();
        string id = StartSleeper(sb);
        int init = InitPid(sb, id);
        for (int i = 0; i < 100 && !File.ReadAllText($"/proc/{init}/cmdline").StartsWith("sleep"); i++) Thread.Sleep(10);
        string pidFile = Path.Combine(sb.Dir, "exec.pid");
        var r = sb.Csrun("exec", "-d", "--pid-file", pidFile, id, "--", "sleep", "200");
        Assert.True(r.ExitCode == 0, r.ToString());
        int pid = int.Parse(File.ReadAllText(pidFile));
        try
        {
            foreach (var ns in new[] { "pid", "mnt", "uts", "ipc", "net", "cgroup" })
            {
                Assert.Equal(new FileInfo($"/proc/{init}/ns/{ns}").LinkTarget, new FileInfo($"/proc/{pid}/ns/{ns}").LinkTarget);
            }
            Assert.Equal(File.ReadAllText($"/proc/{init}/cgroup"), File.ReadAllText($"/proc/{pid}/cgroup"));
            Assert.Equal(File.ReadAllText($"/proc/{init}/root/tmp/marker"), File.ReadAllText($"/proc/{pid}/root/tmp/marker"));
        }
        finally
        {
            Sandbox.Exec("kill", "-9", pid.ToString());
        }
    }

    [Fact]
    public void Exec_output_exit_code_and_view()
    {
        using var sb = new Sandbox();
        string id = StartSleeper(sb);
        var r = sb.Csrun("exec", id, "--", "sh", "-c", "hostname; cat /tmp/marker; cat /proc/1/comm; exit 3");
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("exec-box\nfrom-init\nsleep", r.Stdout.Trim());
    }

    [Fact]
    public void Exec_flags_env_cwd_user_cap_no_new_privs()
    {
        using var sb = new Sandbox();
        string id = StartSleeper(sb);
        var r = sb.Csrun("exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000:1000", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", id,
            "--", "sh", "-c", "echo $FOO $(pwd) $(id -u):$(id -g); grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("bar /tmp 1000:1000", r.Stdout);
        ulong bnd = Convert.ToUInt64(r.Stdout.Split('\n').First(l => l.StartsWith("CapBnd")).Split('\t')[1], 16);
        Assert.True((bnd & (1UL << 21)) != 0, "CAP_SYS_ADMIN not added to the bounding set");
        Assert.Contains("NoNewPrivs:\t1", r.Stdout);
    }

    [Fact]
    public void Exec_with_a_process_json()
    {
        using var sb = new Sandbox();
        string id = StartSleeper(sb);
        string file = Path.Combine(sb.Dir, "process.json");
        File.WriteAllText(file, "{\"args\":[\"sh\",\"-c\",\"echo $A; pwd\"],\"env\":[\"PATH=/bin\",\"A=from-json\"],\"cwd\":\"/home\",\"user\":{\"uid\":0,\"gid\":0}}");
        var r = sb.Csrun("exec", "--process", file, id);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("from-json\n/home", r.Stdout.Trim());
    }

    [Fact]
    public void Exec_process_gets_no_runtime_fd()
    {
        using var sb = new Sandbox();
        string id = StartSleeper(sb);
        var r = sb.Csrun("exec", id, "--", "ls", "-l", "/proc/self/fd");
        Assert.True(r.ExitCode == 0, r.ToString());
        var targets = r.Stdout.Split('\n').Where(l => l.Contains(" -> ")).Select(l => l.Split(" -> ")[1]).ToList();
        Assert.True(targets.Count <= 4, r.Stdout);
        foreach (var t in targets.Skip(3)) Assert.Matches(@"^/proc/\d+/fd$", t);
    }

    [Fact]
    public void Exec_forwards_signals_it_receives_to_the_process()
    {
        using var sb = new Sandbox();
        string id = StartSleeper(sb);
        string output = Path.Combine(sb.Dir, "exec.out");
        var r = Sandbox.Run("/bin/sh", ["-c",
            $"{TestEnv.CsrunBinary} --root {sb.Root} exec {id} sh -c \"trap 'echo got-usr1; exit 7' USR1; echo ready; while true; do sleep 0.1; done\" > {output} & p=$!; " +
            $"for i in $(seq 1 200); do grep -q ready {output} && break; sleep 0.05; done; kill -USR1 $p; wait $p"], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 7, r.ToString());
        Assert.Contains("got-usr1", File.ReadAllText(output));
    }

    [Fact]
    public void Exec_errors_are_clear()
    {
        using var sb = new Sandbox();
        string id = StartSleeper(sb);
        var r = sb.Csrun("exec", id, "--", "no-such-thing");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("no-such-thing", r.Stderr);
        Assert.Contains("not found", r.Stderr);
        Assert.Equal(0, sb.Csrun("kill", id, "KILL").ExitCode);
        for (int i = 0; i < 200 && !sb.Csrun("state", id).Stdout.Contains("stopped"); i++) Thread.Sleep(10);
        r = sb.Csrun("exec", id, "--", "true");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("stopped", r.Stderr);
    }
}
