using Csrun.Oci;

namespace Csrun.Tests;

/// <summary>What the container's process sees: args, env, ids, cwd, umask, rlimits, exit status.</summary>
public class ProcessTests
{
    [Fact]
    public void The_process_starts_with_default_signal_dispositions_and_nothing_blocked()
    {
        // Signals the caller ignores stay ignored across its exec of csrun (SIG_IGN survives execve); the spawner
        // resets them once and blocks everything, and the init unblocks them as it starts. The container's
        // process (grep itself, as pid 1) must see none ignored, blocked or caught. Under make (as in CI) the
        // caller also ignores glibc's internal signals 32 and 33, which glibc's sigaction cannot reset.
        using var sb = new Sandbox();
        string bundle = sb.Bundle(null, "grep", "-E", "^Sig(Blk|Ign|Cgt)", "/proc/self/status");
        var r = Sandbox.Run("sh", ["-c", "trap '' INT PIPE TERM USR1; exec \"$@\"", "sh", TestEnv.CsrunBinary, "--root", sb.Root,
            "--log-format", "text", "run", "--bundle", bundle, sb.NewId()], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (string field in (string[])["SigBlk", "SigIgn", "SigCgt"])
            Assert.True(r.Stdout.Contains($"{field}:\t0000000000000000"), r.ToString());
    }

    [Fact]
    public void The_process_runs_on_the_callers_cpus_with_the_default_policy()
    {
        // The spawner is forked SCHED_BATCH and placed on another CPU than csrun's, and clones the init there;
        // the container's program must still get the caller's whole set and SCHED_OTHER (policy 0, field 41 of
        // /proc/self/stat), under run and under create/start (whose init waits between the two).
        string mine = File.ReadLines("/proc/self/status").First(l => l.StartsWith("Cpus_allowed_list:")) + "\n0";
        int cpus = Environment.ProcessorCount;
        Assert.True(cpus >= 2, $"this test needs at least 2 CPUs to tell one from the caller's set; this machine has {cpus}");
        using var sb = new Sandbox();
        string bundle = sb.Bundle(null, "sh", "-c", "grep ^Cpus_allowed_list: /proc/self/status; cut -d' ' -f41 /proc/self/stat");
        for (int i = 0; i < 5; i++)
        {
            var r = sb.RunContainer(bundle);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal(mine, r.Stdout.Trim());
        }

        string id = sb.NewId();
        string log = Path.Combine(sb.Dir, "create-start.out");
        var c = Sandbox.Run("sh", ["-c", "exec \"$@\" > \"$0\"", log, TestEnv.CsrunBinary, "--root", sb.Root, "create", "--bundle", bundle, id],
            TimeSpan.FromSeconds(60));
        Assert.True(c.ExitCode == 0, c.ToString());
        var s = sb.Csrun("start", id);
        Assert.True(s.ExitCode == 0, s.ToString());
        for (int i = 0; i < 100 && sb.Csrun("state", id).Stdout.Contains("\"running\""); i++) Thread.Sleep(50);
        Assert.Equal(mine, File.ReadAllText(log).Trim());
        sb.Csrun("delete", "--force", id);
    }

    [Fact]
    public void Run_returns_the_exit_code_of_the_process()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(null, "sh", "-c", "exit 7"));
        Assert.True(r.ExitCode == 7, r.ToString());
        r = sb.RunContainer(sb.Bundle(null, "true"));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public void Run_returns_128_plus_signal_when_killed()
    {
        using var sb = new Sandbox();
        // Without a pid namespace the shell is not an init that ignores its own SIGKILL.
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.Namespaces!.RemoveAll(n => n.Type == "pid"), "sh", "-c", "kill -9 $$"));
        Assert.True(r.ExitCode == 137, r.ToString());
    }

    [Fact]
    public void Process_gets_args_env_cwd_and_umask()
    {
        using var sb = new Sandbox();
        string bundle = sb.Bundle(s =>
        {
            s.Process!.Env!.Add("GREETING=hello world");
            s.Process.Cwd = "/tmp";
            s.Process.User.Umask = 0x3F; // 077
        }, "sh", "-c", "echo \"$GREETING|$(pwd)|$(umask)|$0|$1\"", "arg0", "arg1");
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello world|/tmp|0077|arg0|arg1", r.Stdout.Trim());
    }

    [Fact]
    public void Process_gets_HOME_from_the_containers_passwd_when_the_spec_sets_none()
    {
        // As runc and crun: the user's home in the image's /etc/passwd, "/" for a uid it does not list, and a
        // HOME the spec sets wins. Checked for a plain run and for exec, which takes the same path.
        using var sb = new Sandbox();
        string Home(Action<Spec>? edit)
        {
            var r = sb.RunContainer(sb.Bundle(edit, "sh", "-c", "env | grep -c '^HOME='; echo \"$HOME\""));
            Assert.True(r.ExitCode == 0, r.ToString());
            return r.Stdout.Trim();
        }
        Assert.Equal("1\n/root", Home(null));
        Assert.Equal("1\n/home/user", Home(s => { s.Process!.User.Uid = 1000; s.Process.User.Gid = 1000; }));
        Assert.Equal("1\n/", Home(s => { s.Process!.User.Uid = 4321; s.Process.User.Gid = 4321; }));
        Assert.Equal("1\n/srv/data", Home(s => s.Process!.Env!.Add("HOME=/srv/data")));
        // An empty HOME= counts as none, and is replaced rather than kept beside the new one.
        Assert.Equal("1\n/root", Home(s => s.Process!.Env!.Add("HOME=")));

        string id = sb.NewId("exec");
        sb.RunDetached(sb.Bundle(null, "sleep", "300"), id);
        var ex = sb.Csrun("exec", "--user", "1000:1000", id, "sh", "-c", "echo \"$HOME\"");
        Assert.True(ex.ExitCode == 0, ex.ToString());
        Assert.Equal("/home/user", ex.Stdout.Trim());
    }

    [Fact]
    public void Process_runs_with_uid_gid_and_additional_gids()
    {
        using var sb = new Sandbox();
        string bundle = sb.Bundle(s =>
        {
            s.Process!.User = new User { Uid = 1000, Gid = 1000, AdditionalGids = [29, 4242] };
        }, "sh", "-c", "echo $(id -u) $(id -g) $(id -G); grep -E '^(Uid|Gid|Groups):' /proc/self/status");
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("1000 1000 1000 29 4242", lines[0].Trim());
        Assert.Contains("Uid:\t1000\t1000\t1000\t1000", r.Stdout);
        Assert.Contains("Groups:\t29 4242", r.Stdout);
    }

    [Fact]
    public void Rlimits_are_applied()
    {
        using var sb = new Sandbox();
        string bundle = sb.Bundle(s =>
        {
            s.Process!.Rlimits = [new PosixRlimit { Type = "RLIMIT_NOFILE", Soft = 321, Hard = 654 }, new PosixRlimit { Type = "RLIMIT_NPROC", Soft = 77, Hard = 77 }];
        }, "sh", "-c", "ulimit -n; ulimit -Hn; grep 'Max processes' /proc/self/limits");
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("321", lines[0].Trim());
        Assert.Equal("654", lines[1].Trim());
        Assert.Matches(@"Max processes\s+77\s+77", lines[2]);
    }

    [Fact]
    public void OomScoreAdj_is_applied()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Process!.OomScoreAdj = 500, "cat", "/proc/self/oom_score_adj"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("500", r.Stdout.Trim());
    }

    [Fact]
    public void OomScoreAdj_below_our_own_is_raised_without_CAP_SYS_RESOURCE_not_failed()
    {
        using var sb = new Sandbox();
        int own = int.Parse(File.ReadAllText("/proc/self/oom_score_adj").Trim());
        var r = sb.RunContainer(sb.Bundle(s => s.Process!.OomScoreAdj = -998, "cat", "/proc/self/oom_score_adj"));
        Assert.True(r.ExitCode == 0, r.ToString());
        int got = int.Parse(r.Stdout.Trim());
        bool capSysResource = File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapEff:"))
            is var l && (Convert.ToUInt64(l[7..].Trim(), 16) & (1UL << 24)) != 0;
        Assert.Equal(capSysResource ? -998 : own, got);
    }

    [Fact]
    public void Executable_not_found_is_a_clear_error_and_leaves_nothing()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "--bundle", sb.Bundle(null, "no-such-binary"), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("no-such-binary", r.Stderr);
        Assert.Contains("not found", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void No_runtime_file_descriptor_reaches_the_container()
    {
        // CVE-2024-21626: a leaked fd (runc's was /sys/fs/cgroup) lets the container escape through /proc/self/fd.
        using var sb = new Sandbox();
        // The container's process lists its own fd table: only stdio, plus the directory fd ls itself opened.
        var r = sb.RunContainer(sb.Bundle(null, "ls", "-l", "/proc/self/fd"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var fds = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains(" -> "))
            .Select(l => (Fd: int.Parse(l.Split(" -> ")[0].Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]), Target: l.Split(" -> ")[1])).ToList();
        Assert.Equal(new[] { 0, 1, 2 }, fds.Where(f => f.Fd <= 2).Select(f => f.Fd));
        foreach (var f in fds.Where(f => f.Fd > 2)) Assert.Matches(@"^/proc/\d+/fd$", f.Target);
        Assert.True(fds.Count(f => f.Fd > 2) <= 1, r.Stdout);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Cwd_through_a_proc_fd_cannot_escape_the_rootfs(int fd)
    {
        // The exploit of CVE-2024-21626: cwd /proc/self/fd/N resolved while a host directory fd is open.
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Process!.Cwd = $"/proc/self/fd/{fd}", "sh", "-c", "pwd; ls -d ../../../../etc/debian_version 2>/dev/null; exit 0"));
        if (r.ExitCode == 0)
        {
            // If chdir succeeded it must have landed inside the container: the host's Debian marker is not visible.
            Assert.DoesNotContain("debian_version", r.Stdout);
        }
        else
        {
            Assert.Contains("cwd", r.Stderr);
        }
    }

    [Fact]
    public void Preserve_fds_passes_the_extra_descriptors()
    {
        using var sb = new Sandbox();
        string bundle = sb.Bundle(null, "sh", "-c", "cat <&3");
        // bash opens fd 3 on a file and hands it to csrun, which must keep it for the container.
        string data = Path.Combine(sb.Dir, "data.txt");
        File.WriteAllText(data, "through fd 3");
        var r = Sandbox.Run("/bin/bash", ["-c", $"exec 3<{data}; exec {TestEnv.CsrunBinary} --root {sb.Root} run --preserve-fds 1 --bundle {bundle} {sb.NewId()}"], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("through fd 3", r.Stdout.Trim());
    }
}

public class KeyringTests
{
    [Fact]
    public void Container_joins_a_new_session_keyring_unless_told_not_to()
    {
        using var sb = new Sandbox();
        string a = sb.NewId(), b = sb.NewId();
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(null, "sleep", "300"), a).ExitCode);
        Assert.Equal(0, sb.Csrun("run", "-d", "--no-new-keyring", "--bundle", sb.Bundle(null, "sleep", "300"), b).ExitCode);
        string keys = File.ReadAllText("/proc/keys");
        Assert.Contains($"_ses.{a}", keys);
        Assert.DoesNotContain($"_ses.{b}", keys);
    }
}
