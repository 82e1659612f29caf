using System.Text.Json;
using Csrun.Oci;

namespace Csrun.Tests;

/// <summary>
/// native/spawner.c where the container gets v1 cgroups only: the start-up's spawner clones the init ahead of the
/// plan, and the init waits for it (on this hybrid host, in a mount namespace without the cgroup2 mount:
/// <see cref="Sandbox.CsrunWithoutCgroup2"/>). With a cgroup2 mount the spawner clones the init at the request,
/// into its v2 cgroup: NamespaceAndMountTests and every other container test run that way here.
/// </summary>
public class SpawnerTests
{
    private const string Ahead = "note init cloned by the start-up's spawner ahead of the plan";

    [Fact]
    public void The_init_cloned_ahead_runs_as_any_other()
    {
        // pid 1 of its own pid namespace, its own network namespace with lo up, the caller's CPUs and policy (the
        // spawner is SCHED_BATCH at its fork and pinned to one CPU), and the exit status passed on; nothing left.
        string cpus = File.ReadLines("/proc/self/status").First(l => l.StartsWith("Cpus_allowed_list:"));
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.CsrunWithoutCgroup2("run", "--bundle", sb.Bundle(null, "sh", "-c",
            "echo $$; hostname; ls /sys/class/net; cat /sys/class/net/lo/flags; cut -d' ' -f41 /proc/self/stat; " +
            "grep ^Cpus_allowed_list: /proc/self/status; exit 5"), id);
        Assert.True(r.ExitCode == 5, r.ToString());
        Assert.Contains(Ahead, r.Stderr);
        Assert.Equal(["1", "csrun", "lo", "0x9", "0", cpus], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void The_init_cloned_ahead_is_in_the_containers_cgroups_and_namespaces()
    {
        // Born outside them, it is placed in every v1 hierarchy's cgroup (by its own write of the tasks files), and
        // the namespaces of runc's default spec are all new: none is csrun's.
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.CsrunWithoutCgroup2("run", "-d", "--bundle", sb.Bundle(null, "sleep", "60"), id);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(Ahead, r.Stderr);
        try
        {
            int pid = JsonDocument.Parse(sb.Csrun("state", id).Stdout).RootElement.GetProperty("pid").GetInt32();
            var v1 = File.ReadAllLines($"/proc/{pid}/cgroup").Where(l => !l.StartsWith("0::", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(v1);
            Assert.All(v1, l => Assert.EndsWith("/csrun/" + id, l));
            foreach (string ns in (string[])["pid", "net", "ipc", "uts", "mnt", "cgroup"])
                Assert.NotEqual(new FileInfo($"/proc/self/ns/{ns}").LinkTarget, new FileInfo($"/proc/{pid}/ns/{ns}").LinkTarget);
        }
        finally
        {
            sb.Csrun("delete", "--force", id);
        }
        Leaks.AssertNothingLeft(sb, id);
    }

    [Theory]
    [InlineData("rshared", "shared:")]
    [InlineData("rprivate", null)]
    public void Rootfs_propagation_with_the_mount_namespace_made_ahead(string propagation, string? tag)
    {
        // The init makes its mount namespace while .NET starts, "/" a recursive slave; another rootfsPropagation
        // makes it again from the host's table at the request, then applies it as the init cloned at the request does.
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.CsrunWithoutCgroup2("run", "--bundle", sb.Bundle(s => s.Linux!.RootfsPropagation = propagation, "sh", "-c",
            "awk '$5 == \"/\"' /proc/self/mountinfo; echo $$"), id);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(Ahead, r.Stderr);
        Assert.EndsWith("\n1", r.Stdout.TrimEnd());
        if (tag is null) Assert.DoesNotContain("shared:", r.Stdout);
        else Assert.Contains(tag, r.Stdout);
        Assert.DoesNotContain("master:", r.Stdout);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Create_and_start_with_the_init_cloned_ahead()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        string log = Path.Combine(sb.Dir, "out");
        string bundle = sb.Bundle(s => s.Mounts!.Add(new Mount { Destination = "/out", Type = "bind", Source = sb.Dir, Options = ["rbind", "rw"] }),
            "sh", "-c", "echo started as $$ > /out/out");
        var c = sb.CsrunWithoutCgroup2("create", "--bundle", bundle, id);
        Assert.True(c.ExitCode == 0, c.ToString());
        Assert.Contains(Ahead, c.Stderr);
        Assert.False(File.Exists(log), "the process ran before start");
        var s = sb.Csrun("start", id);
        Assert.True(s.ExitCode == 0, s.ToString());
        // Until the line is whole: the shell's redirection makes the file before echo writes it.
        for (int i = 0; i < 100 && !(File.Exists(log) && File.ReadAllText(log).EndsWith('\n')); i++) Thread.Sleep(50);
        Assert.Equal("started as 1", File.ReadAllText(log).Trim());
        Assert.Equal(0, sb.Csrun("delete", "--force", id).ExitCode);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Theory]
    [InlineData("bad config")]
    [InlineData("no such program")]
    public void A_failed_start_leaves_no_init_cloned_ahead_behind(string failure)
    {
        // csrun fails before it hands over a plan (a namespace type it does not know), or after (the program is
        // not in the rootfs): either way the init cloned at start-up goes with it, and nothing else is left.
        using var sb = new Sandbox();
        string id = sb.NewId();
        string bundle = failure == "bad config"
            ? sb.Bundle(s => s.Linux!.Namespaces!.Add(new LinuxNamespace { Type = "bogus" }))
            : sb.Bundle(null, "/no/such/program");
        var r = sb.CsrunWithoutCgroup2("run", "--bundle", bundle, id);
        Assert.True(r.ExitCode != 0, r.ToString());
        Assert.Contains(failure == "bad config" ? "bogus" : "/no/such/program", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Once_the_container_runs_its_init_is_csruns_only_child(bool withoutCgroup2, bool dismissed)
    {
        // A poststart hook (csrun's child, once the container runs) lists csrun's other children: only the init.
        // The helper is reaped, and so is an init cloned ahead that was never handed a plan: with the host's ipc
        // namespace the spec does not want what the spawner made, it is dismissed and csrun clones the init.
        using var sb = new Sandbox();
        string log = Path.Combine(sb.Dir, "children.log");
        string hook = Path.Combine(sb.Dir, "children.sh");
        File.WriteAllText(hook, "#!/bin/sh\npid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/')\necho \"init $pid\" > " + log + "\n" +
            "for s in /proc/[0-9]*/status; do p=${s#/proc/}; p=${p%/status}; [ \"$p\" = $$ ] && continue; " +
            "[ \"$(sed -n 's/^PPid:[[:space:]]*//p' $s 2>/dev/null)\" = \"$PPID\" ] && echo \"child $p $(sed -n 's/^State:[[:space:]]*//p' $s)\" >> " + log + "; done\n");
        File.SetUnixFileMode(hook, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string bundle = sb.Bundle(s =>
        {
            s.Hooks = new Hooks { Poststart = [new Hook { Path = hook }] };
            if (dismissed) s.Linux!.Namespaces!.RemoveAll(n => n.Type == "ipc");
        }, "sleep", "1");
        string id = sb.NewId();
        string[] args = ["run", "--bundle", bundle, id];
        var r = withoutCgroup2 ? sb.CsrunWithoutCgroup2(args) : sb.CsrunTraced(args);
        Assert.True(r.ExitCode == 0, r.ToString());
        if (dismissed) Assert.DoesNotContain("spawner", r.Stderr);
        else Assert.Contains(withoutCgroup2 ? Ahead : "note init cloned by the start-up's spawner\n", r.Stderr);
        string[] lines = File.ReadAllLines(log);
        string init = lines[0]["init ".Length..];
        Assert.True(lines.Length == 2 && lines[1].StartsWith($"child {init} S", StringComparison.Ordinal),
            $"csrun's children other than the hook, the init being {init}:\n{string.Join('\n', lines[1..])}");
        Leaks.AssertNothingLeft(sb, id);
    }
}
