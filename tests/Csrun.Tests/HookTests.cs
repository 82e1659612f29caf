using System.Text.Json;
using Csrun.Oci;

namespace Csrun.Tests;

public class HookTests
{
    private static string Script(Sandbox sb, string name, string body)
    {
        string p = Path.Combine(sb.Dir, name);
        File.WriteAllText(p, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(p, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return p;
    }

    [Fact]
    public void Every_hook_runs_in_order_with_the_state_on_stdin()
    {
        using var sb = new Sandbox();
        string log = Path.Combine(sb.Dir, "hooks.log");
        // startContainer runs inside the container: its path and log are the container's.
        string hostHook = Script(sb, "hook.sh", $"kind=$1; state=$(cat); echo \"$kind $state\" >> {log}");
        string id = sb.NewId();
        string bundle = sb.Bundle(s =>
        {
            Hook H(string kind) => new() { Path = hostHook, Args = ["hook.sh", kind], Timeout = 10 };
            s.Hooks = new Hooks
            {
                Prestart = [H("prestart")],
                CreateRuntime = [H("createRuntime")],
                CreateContainer = [H("createContainer")],
                StartContainer = [new Hook { Path = "/bin/sh", Args = ["sh", "-c", "cat > /tmp/start-state; echo startContainer > /tmp/start-kind"] }],
                Poststart = [H("poststart")],
                Poststop = [H("poststop")],
            };
        }, "sh", "-c", "cat /tmp/start-kind; grep -c '\"status\"' /tmp/start-state");
        var r = sb.RunContainer(bundle, id);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("startContainer", r.Stdout);
        var lines = File.ReadAllLines(log);
        Assert.Equal(new[] { "prestart", "createRuntime", "createContainer", "poststart", "poststop" }, lines.Select(l => l.Split(' ')[0]));
        foreach (var line in lines)
        {
            var st = JsonDocument.Parse(line[(line.IndexOf(' ') + 1)..]).RootElement;
            Assert.Equal(id, st.GetProperty("id").GetString());
            Assert.Equal("1.1.0", st.GetProperty("ociVersion").GetString());
            Assert.False(string.IsNullOrEmpty(st.GetProperty("bundle").GetString()));
        }
        var first = JsonDocument.Parse(lines[0][(lines[0].IndexOf(' ') + 1)..]).RootElement;
        Assert.Equal("creating", first.GetProperty("status").GetString());
        Assert.True(first.GetProperty("pid").GetInt32() > 0);
        var last = JsonDocument.Parse(lines[^1][(lines[^1].IndexOf(' ') + 1)..]).RootElement;
        Assert.Equal("stopped", last.GetProperty("status").GetString());
    }

    [Fact]
    public void CreateContainer_hooks_keep_the_runtimes_bounding_set()
    {
        // The init shrinks the bounding set before its resume, but not while a createContainer hook is still to be
        // exec'd by it (as root, the hook's capabilities are that set): the hook gets csrun's, the process the spec's.
        using var sb = new Sandbox();
        string log = Path.Combine(sb.Dir, "capbnd.log");
        string hook = Script(sb, "cap.sh", $"grep ^CapBnd: /proc/self/status > {log}");
        string ours = File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapBnd:"));
        var r = sb.RunContainer(sb.Bundle(s => s.Hooks = new Hooks { CreateContainer = [new Hook { Path = hook }] },
            "grep", "^CapBnd:", "/proc/self/status"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(ours, File.ReadAllText(log).Trim());
        Assert.Equal("CapBnd:\t0000000020000420", r.Stdout.Trim());
    }

    [Fact]
    public void CreateContainer_hooks_run_in_the_runtimes_working_directory()
    {
        // The init mounts the v1 hierarchies by names relative to the cgroup tmpfs, its working directory
        // meanwhile, and goes back before it runs the hook.
        using var sb = new Sandbox();
        string log = Path.Combine(sb.Dir, "cwd.log");
        string hook = Script(sb, "cwd.sh", $"pwd -P > {log}");
        var r = sb.RunContainer(sb.Bundle(s => s.Hooks = new Hooks { CreateContainer = [new Hook { Path = hook }] }, "true"));
        Assert.True(r.ExitCode == 0, r.ToString());
        string expected = new DirectoryInfo(Environment.CurrentDirectory).ResolveLinkTarget(true)?.FullName ?? Environment.CurrentDirectory;
        Assert.Equal(expected, File.ReadAllText(log).Trim());
    }

    [Fact]
    public void Prestart_sees_the_container_process_in_its_cgroups_already()
    {
        // The v1 cgroups are made while the child is cloned and it joins them itself when its setup starts:
        // by the time the hooks run (before them, CNI and the like read /proc/<pid>/cgroup) it is in them all.
        using var sb = new Sandbox();
        string log = Path.Combine(sb.Dir, "cgroup.log");
        string hook = Script(sb, "cg.sh", $"pid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/'); cat /proc/$pid/cgroup > {log}");
        string id = sb.NewId();
        var r = sb.RunContainer(sb.Bundle(s => s.Hooks = new Hooks { Prestart = [new Hook { Path = hook }] }, "true"), id);
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = File.ReadAllLines(log).Where(l => l.Length > 0).ToList();
        Assert.NotEmpty(lines);
        foreach (string line in lines)
        {
            // hierarchy-id:controllers:path; the unified hierarchy (0::) too on a hybrid or v2 host.
            string path = line[(line.IndexOf(':', line.IndexOf(':') + 1) + 1)..];
            Assert.True(path.EndsWith("/csrun/" + id, StringComparison.Ordinal), $"not in its cgroup at prestart: {line}");
        }
    }

    [Fact]
    public void Failing_prestart_hook_fails_create_and_leaves_nothing()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        string hook = Script(sb, "fail.sh", "exit 3");
        var r = sb.Csrun("create", "--bundle", sb.Bundle(s => s.Hooks = new Hooks { Prestart = [new Hook { Path = hook }] }, "sleep", "300"), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("prestart", r.Stderr);
        Assert.Contains("status 3", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Hook_timeout_kills_the_hook_and_fails_create()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        string nap = $"29.{Random.Shared.Next(100000, 999999)}";
        string hook = Script(sb, "slow.sh", $"sleep {nap}; echo never");
        var r = sb.Csrun("create", "--bundle", sb.Bundle(s => s.Hooks = new Hooks { CreateRuntime = [new Hook { Path = hook, Timeout = 1 }] }, "sleep", "300"), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("timed out", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
        // What the hook started dies with it (the hook runs in its own process group).
        Thread.Sleep(100);
        var stray = Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(p => p!.All(char.IsAsciiDigit))
            .Where(p => { try { return File.ReadAllText($"/proc/{p}/cmdline").Contains(nap); } catch (IOException) { return false; } }).ToList();
        Assert.Empty(stray);
    }

    [Fact]
    public void Failing_poststart_hook_is_a_warning_not_a_failure()
    {
        using var sb = new Sandbox();
        string hook = Script(sb, "fail.sh", "exit 1");
        var r = sb.RunContainer(sb.Bundle(s => s.Hooks = new Hooks { Poststart = [new Hook { Path = hook }] }, "sh", "-c", "echo ran"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("ran", r.Stdout);
        Assert.Contains("poststart", r.Stderr);
    }
}
