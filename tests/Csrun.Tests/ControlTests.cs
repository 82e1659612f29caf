using System.Text.Json;

namespace Csrun.Tests;

/// <summary>pause, resume, ps and update on a running container.</summary>
public class ControlTests
{
    private static string Status(Sandbox sb, string id) =>
        JsonDocument.Parse(sb.Csrun("state", id).Stdout).RootElement.GetProperty("status").GetString()!;

    private static int Pid(Sandbox sb, string id) =>
        JsonDocument.Parse(sb.Csrun("state", id).Stdout).RootElement.GetProperty("pid").GetInt32();

    [Fact]
    public void Pause_freezes_and_resume_thaws()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(null, "sleep", "300"), id).ExitCode);
        int pid = Pid(sb, id);
        var p = sb.Csrun("pause", id);
        Assert.True(p.ExitCode == 0, p.ToString());
        Assert.Equal("paused", Status(sb, id));
        // The kernel's view: a frozen task sleeps in the freezer ("D" or "S" with the cgroup frozen).
        string freezer = Leaks.CgroupDirs("csrun/" + id).FirstOrDefault(d => d.Contains("/freezer/")) is { } f
            ? File.ReadAllText(Path.Combine(f, "freezer.state")).Trim()
            : File.ReadAllText(Path.Combine(Leaks.CgroupDirs("csrun/" + id)[0], "cgroup.freeze")).Trim();
        Assert.True(freezer is "FROZEN" or "1", freezer);
        var again = sb.Csrun("pause", id);
        Assert.NotEqual(0, again.ExitCode);
        Assert.Equal(0, sb.Csrun("resume", id).ExitCode);
        Assert.Equal("running", Status(sb, id));
        var notPaused = sb.Csrun("resume", id);
        Assert.NotEqual(0, notPaused.ExitCode);
        Assert.Contains("not paused", notPaused.Stderr);
        Assert.True(Directory.Exists($"/proc/{pid}"));
    }

    [Fact]
    public void Delete_force_of_a_paused_container()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(null, "sleep", "300"), id).ExitCode);
        Assert.Equal(0, sb.Csrun("pause", id).ExitCode);
        var d = sb.Csrun("delete", "--force", id);
        Assert.True(d.ExitCode == 0, d.ToString());
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Ps_lists_the_container_processes()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(null, "sh", "-c", "sleep 300 & sleep 301 & wait"), id).ExitCode);
        int init = Pid(sb, id);
        List<int> pids = [];
        for (int i = 0; i < 100 && pids.Count < 3; i++)
        {
            using var doc = JsonDocument.Parse(sb.Csrun("ps", "--format", "json", id).Stdout);
            pids = [.. doc.RootElement.EnumerateArray().Select(e => e.GetInt32())];
            Thread.Sleep(20);
        }
        Assert.Equal(3, pids.Count);
        Assert.Contains(init, pids);
        var table = sb.Csrun("ps", id);
        Assert.True(table.ExitCode == 0, table.ToString());
        var lines = table.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("PID", lines[0]);
        Assert.Equal(3, lines.Length - 1);
        Assert.Contains(lines, l => l.Contains("sleep 301"));
    }

    [Fact]
    public void Update_changes_limits_of_a_running_container()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(s =>
        {
            s.Linux!.Resources!.Memory = new Csrun.Oci.LinuxMemory { Limit = 64L << 20 };
            s.Linux.Resources.Pids = new Csrun.Oci.LinuxPids { Limit = 100 };
        }, "sleep", "300"), id).ExitCode);
        var u = sb.Csrun("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "50", "--cpu-quota", "20000", "--cpu-period", "100000", id);
        Assert.True(u.ExitCode == 0, u.ToString());
        string res = Path.Combine(sb.Dir, "res.json");
        File.WriteAllText(res, "{\"cpu\":{\"shares\":256}}");
        u = sb.Csrun("update", "--resources", res, id);
        Assert.True(u.ExitCode == 0, u.ToString());
        string Read(string file) => File.ReadAllText(Leaks.CgroupDirs("csrun/" + id).First(d => File.Exists(Path.Combine(d, file))) + "/" + file).Trim();
        if (File.Exists("/sys/fs/cgroup/cgroup.controllers"))
        {
            Assert.Equal((128L << 20).ToString(), Read("memory.max"));
            Assert.Equal("50", Read("pids.max"));
            Assert.Equal("20000 100000", Read("cpu.max"));
        }
        else
        {
            Assert.Equal((128L << 20).ToString(), Read("memory.limit_in_bytes"));
            Assert.Equal((256L << 20).ToString(), Read("memory.memsw.limit_in_bytes"));
            Assert.Equal("50", Read("pids.max"));
            Assert.Equal("20000", Read("cpu.cfs_quota_us"));
            Assert.Equal("256", Read("cpu.shares"));
        }
        var bad = sb.Csrun("update", "--memory", "lots", id);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("--memory", bad.Stderr);
    }
}

public class EventsTests
{
    [Fact]
    public void Stats_once_and_as_a_stream_that_ends_with_the_container()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(s => s.Linux!.Resources!.Pids = new Csrun.Oci.LinuxPids { Limit = 33 }, "sh", "-c", "sleep 1"), id).ExitCode);
        var once = sb.Csrun("events", "--stats", id);
        Assert.True(once.ExitCode == 0, once.ToString());
        var doc = System.Text.Json.JsonDocument.Parse(once.Stdout).RootElement;
        Assert.Equal("stats", doc.GetProperty("type").GetString());
        Assert.Equal(id, doc.GetProperty("id").GetString());
        var data = doc.GetProperty("data");
        Assert.True(data.GetProperty("pids").GetProperty("current").GetInt32() >= 1);
        Assert.Equal(33, data.GetProperty("pids").GetProperty("limit").GetInt32());
        Assert.True(data.GetProperty("memory").GetProperty("usage").GetProperty("usage").GetUInt64() > 0);
        var stream = sb.Csrun("events", "--interval", "100ms", id);
        Assert.True(stream.ExitCode == 0, stream.ToString());
        var lines = stream.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 2, stream.Stdout);
        Assert.All(lines, l => Assert.Equal("stats", System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("type").GetString()));
    }
}

public class CheckpointTests
{
    [Fact]
    public void Checkpoint_says_why_criu_cannot_run_and_leaves_the_container_alone()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(null, "sleep", "300"), id).ExitCode);
        var r = sb.Csrun("checkpoint", id);
        // On this VM's kernel `criu check` fails; where it passes, the dump is not implemented yet. Either way: a clear no.
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("criu", r.Stderr);
        Assert.Contains("\"running\"", sb.Csrun("state", id).Stdout);
        var missing = sb.Csrun("checkpoint", "no-such-" + id);
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("does not exist", missing.Stderr);
    }
}

public class OomEventTests
{
    [Fact]
    public void Events_stream_reports_an_oom_kill()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        // The stream reports OOM kills after its first sample (as runc reports those after it starts listening),
        // so the container waits for /sync/go, made once that sample is out. busybox tail keeps an endless
        // "line" in memory: the OOM killer ends it inside the 16 MiB limit.
        string sync = Path.Combine(sb.Dir, "sync");
        Directory.CreateDirectory(sync);
        string bundle = sb.Bundle(s =>
            {
                s.Linux!.Resources!.Memory = new Csrun.Oci.LinuxMemory { Limit = 16L << 20, Swap = 16L << 20 };
                s.Mounts!.Add(new Csrun.Oci.Mount { Destination = "/sync", Type = "bind", Source = sync, Options = ["rbind"] });
            },
            "sh", "-c", "while [ ! -e /sync/go ]; do sleep 0.05; done; head -c 300m /dev/zero | tail > /dev/null; echo tail=$?; sleep 1");
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", bundle, id).ExitCode);

        var psi = new System.Diagnostics.ProcessStartInfo(TestEnv.CsrunBinary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "--root", sb.Root, "events", "--interval", "100ms", id }) psi.ArgumentList.Add(a);
        using var events = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var stderr = events.StandardError.ReadToEndAsync();
            var first = events.StandardOutput.ReadLineAsync();
            Assert.True(first.Wait(TimeSpan.FromSeconds(30)) && first.Result is not null, $"no first event from csrun events: {(events.HasExited ? stderr.Result : "")}");
            Assert.Contains("\"type\":\"stats\"", first.Result);
            File.WriteAllText(Path.Combine(sync, "go"), "");
            var rest = events.StandardOutput.ReadToEndAsync();
            Assert.True(rest.Wait(TimeSpan.FromSeconds(60)) && events.WaitForExit(10_000), "csrun events did not end with the container");
            Assert.True(events.ExitCode == 0, $"csrun events: exit {events.ExitCode}: {stderr.Result}");
            Assert.Contains(rest.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l == $"{{\"type\":\"oom\",\"id\":\"{id}\"}}");
        }
        finally
        {
            if (!events.HasExited) events.Kill();
        }
    }
}
