using System.Text.Json;

namespace Csrun.Tests;

/// <summary>The command line itself: spec, features, global flags and logging as engines use them.</summary>
public class CliTests
{
    [Fact]
    public void Spec_writes_runc_default_config_and_refuses_to_overwrite()
    {
        using var sb = new Sandbox();
        string dir = Path.Combine(sb.Dir, "spec");
        Directory.CreateDirectory(dir);
        var r = sb.Csrun("spec", "--bundle", dir);
        Assert.True(r.ExitCode == 0, r.ToString());
        var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))).RootElement;
        Assert.Equal("sh", doc.GetProperty("process").GetProperty("args")[0].GetString());
        Assert.True(doc.GetProperty("process").GetProperty("terminal").GetBoolean());
        Assert.Equal("rootfs", doc.GetProperty("root").GetProperty("path").GetString());
        Assert.Equal(6, doc.GetProperty("linux").GetProperty("namespaces").GetArrayLength());
        Assert.Equal(7, doc.GetProperty("mounts").GetArrayLength());
        var again = sb.Csrun("spec", "--bundle", dir);
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("exists", again.Stderr);
    }

    [Fact]
    public void Phase_trace_counts_its_first_phase_from_the_callers_CSRUN_T0()
    {
        // CSRUN_T0 is the caller's CLOCK_MONOTONIC in ns at spawn. Set 5 s in the past, the first phase must
        // span those 5 s; each phase line is "phase NAME  MS ms  KB kB".
        using var sb = new Sandbox();
        long nowNs = Csrun.Engine.PhaseTimer.MonotonicNs();
        var r = Sandbox.Run("env", ["CSRUN_TRACE_PHASES=1", $"CSRUN_T0={nowNs - 5_000_000_000}", TestEnv.CsrunBinary, "--root", sb.Root, "list"],
            TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
        string line = r.Stderr.Split('\n').First(l => l.StartsWith("phase "));
        Assert.StartsWith("phase exec to Main", line);
        string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        double ms = double.Parse(f[Array.IndexOf(f, "ms") - 1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(ms, 5000, double.MaxValue);
        // Without tracing, nothing is printed however CSRUN_T0 is set.
        var quiet = Sandbox.Run("env", [$"CSRUN_T0={nowNs}", TestEnv.CsrunBinary, "--root", sb.Root, "list"], TimeSpan.FromSeconds(60));
        Assert.True(quiet.ExitCode == 0, quiet.ToString());
        Assert.DoesNotContain("phase ", quiet.Stderr);
    }

    [Fact]
    public void Spec_output_runs_as_is_once_terminal_is_off()
    {
        using var sb = new Sandbox();
        string dir = Path.Combine(sb.Dir, "b");
        Directory.CreateDirectory(dir);
        Assert.Equal(0, sb.Csrun("spec", "-b", dir).ExitCode);
        Sandbox.Exec("cp", "-a", TestEnv.BusyboxRootfs, Path.Combine(dir, "rootfs"));
        string cfg = File.ReadAllText(Path.Combine(dir, "config.json")).Replace("\"terminal\": true", "\"terminal\": false").Replace("\"sh\"", "\"hostname\"");
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg);
        var r = sb.RunContainer(dir);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("csrun", r.Stdout.Trim());
    }

    [Fact]
    public void Features_prints_the_runtime_features_document()
    {
        using var sb = new Sandbox();
        var r = sb.Csrun("features");
        Assert.True(r.ExitCode == 0, r.ToString());
        var doc = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("1.0.0", doc.GetProperty("ociVersionMin").GetString());
        Assert.Equal("1.1.0", doc.GetProperty("ociVersionMax").GetString());
        Assert.Equal(6, doc.GetProperty("hooks").GetArrayLength());
        Assert.Contains(doc.GetProperty("mountOptions").EnumerateArray(), e => e.GetString() == "rbind");
        Assert.Contains(doc.GetProperty("mountOptions").EnumerateArray(), e => e.GetString() == "rro");
        Assert.DoesNotContain(doc.GetProperty("mountOptions").EnumerateArray(), e => e.GetString() == "idmap");
        // Every namespace csrun makes or joins, user namespaces included (not time).
        Assert.Equal(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            doc.GetProperty("linux").GetProperty("namespaces").EnumerateArray().Select(e => e.GetString()!).ToArray());
        var cg = doc.GetProperty("linux").GetProperty("cgroup");
        Assert.Equal(Directory.Exists("/sys/fs/cgroup/memory") || Directory.Exists("/sys/fs/cgroup/pids"), cg.GetProperty("v1").GetBoolean());
    }

    [Fact]
    public void Json_log_records_the_error_for_engines()
    {
        using var sb = new Sandbox();
        string log = Path.Combine(sb.Dir, "log.json");
        var r = Sandbox.Run(TestEnv.CsrunBinary, ["--root", sb.Root, "--log", log, "--log-format", "json", "state", "no-such-ctr"], TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, r.ExitCode);
        var last = JsonDocument.Parse(File.ReadAllLines(log)[^1]).RootElement;
        Assert.Equal("error", last.GetProperty("level").GetString());
        Assert.Contains("no-such-ctr", last.GetProperty("msg").GetString());
        Assert.True(DateTime.TryParse(last.GetProperty("time").GetString(), out _));
    }

    [Fact]
    public void Single_dash_long_flags_are_accepted_as_runc_does()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = Sandbox.Run(TestEnv.CsrunBinary, ["-root", sb.Root, "run", "-bundle", sb.Bundle(null, "true"), id], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public void Systemd_cgroup_without_systemd_is_a_clear_error()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("--systemd-cgroup", "run", "--bundle", sb.Bundle(), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("systemd", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Unknown_command_fails()
    {
        using var sb = new Sandbox();
        var r = sb.Csrun("frobnicate");
        Assert.NotEqual(0, r.ExitCode);
    }
}
