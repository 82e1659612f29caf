using System.Text.Json;

namespace Csrun.Tests;

/// <summary>create, start, state, kill, delete, list and the state machine between them.</summary>
public class LifecycleTests
{
    private static JsonElement State(Sandbox sb, string id)
    {
        var r = sb.Csrun("state", id);
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.Stdout).RootElement;
    }

    private static void WaitStatus(Sandbox sb, string id, string status)
    {
        for (int i = 0; i < 200 && State(sb, id).GetProperty("status").GetString() != status; i++) Thread.Sleep(25);
        Assert.Equal(status, State(sb, id).GetProperty("status").GetString());
    }

    [Fact]
    public void Create_start_kill_delete()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        string bundle = sb.Bundle(null, "sleep", "300");
        string pidFile = Path.Combine(sb.Dir, "pid");
        var c = sb.Csrun("create", "--bundle", bundle, "--pid-file", pidFile, id);
        Assert.True(c.ExitCode == 0, c.ToString());

        var st = State(sb, id);
        Assert.Equal("created", st.GetProperty("status").GetString());
        int pid = st.GetProperty("pid").GetInt32();
        Assert.True(pid > 0);
        Assert.Equal(pid.ToString(), File.ReadAllText(pidFile));
        Assert.Equal(id, st.GetProperty("id").GetString());
        Assert.Equal(bundle, st.GetProperty("bundle").GetString());
        Assert.Equal(Path.Combine(bundle, "rootfs"), st.GetProperty("rootfs").GetString());
        Assert.True(DateTime.TryParse(st.GetProperty("created").GetString(), out _));
        // Before start the process is still the runtime's copy waiting on the fifo, not sleep.
        Assert.DoesNotContain("sleep", File.ReadAllText($"/proc/{pid}/cmdline"));

        var s = sb.Csrun("start", id);
        Assert.True(s.ExitCode == 0, s.ToString());
        Assert.Equal("running", State(sb, id).GetProperty("status").GetString());
        for (int i = 0; i < 100 && !File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("sleep"); i++) Thread.Sleep(10);
        Assert.StartsWith("sleep", File.ReadAllText($"/proc/{pid}/cmdline"));

        var again = sb.Csrun("start", id);
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("running", again.Stderr);

        var d = sb.Csrun("delete", id);
        Assert.NotEqual(0, d.ExitCode);
        Assert.Contains("not stopped", d.Stderr);

        var k = sb.Csrun("kill", id, "KILL");
        Assert.True(k.ExitCode == 0, k.ToString());
        WaitStatus(sb, id, "stopped");
        Assert.Equal(0, State(sb, id).GetProperty("pid").GetInt32());

        d = sb.Csrun("delete", id);
        Assert.True(d.ExitCode == 0, d.ToString());
        var gone = sb.Csrun("state", id);
        Assert.NotEqual(0, gone.ExitCode);
        Assert.Contains("does not exist", gone.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void State_is_stopped_after_the_process_exits_on_its_own()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("create", "--bundle", sb.Bundle(null, "true"), id).ExitCode);
        Assert.Equal(0, sb.Csrun("start", id).ExitCode);
        WaitStatus(sb, id, "stopped");
        Assert.Equal(0, sb.Csrun("delete", id).ExitCode);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Theory]
    [InlineData("TERM", 143)]
    [InlineData("SIGUSR1", 138)]
    [InlineData("9", 137)]
    public void Kill_accepts_names_and_numbers(string signal, int expectedExit)
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        // run in the background: the signal ends the container and run reports 128+N.
        // No pid namespace: as a namespace's init, sleep would ignore TERM and USR1 (it has no handlers).
        var run = Task.Run(() => sb.Csrun("run", "--bundle", sb.Bundle(s => s.Linux!.Namespaces!.RemoveAll(n => n.Type == "pid"), "sleep", "300"), id));
        for (int i = 0; i < 400 && sb.Csrun("state", id).Stdout.Contains("\"running\"") == false; i++) Thread.Sleep(25);
        var k = sb.Csrun("kill", id, signal);
        Assert.True(k.ExitCode == 0, k.ToString());
        Assert.True(run.Wait(TimeSpan.FromSeconds(30)));
        Assert.Equal(expectedExit, run.Result.ExitCode);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Kill_rejects_unknown_signal_and_unknown_container()
    {
        using var sb = new Sandbox();
        var r = sb.Csrun("kill", "nope-" + Guid.NewGuid().ToString("N")[..6], "TERM");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("does not exist", r.Stderr);
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("create", "--bundle", sb.Bundle(null, "true"), id).ExitCode);
        r = sb.Csrun("kill", id, "SIGNOPE");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("SIGNOPE", r.Stderr);
    }

    [Fact]
    public void Run_detached_then_kill_all_and_force_delete()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "-d", "--bundle", sb.Bundle(null, "sh", "-c", "sleep 300 & sleep 300 & wait"), id);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("running", State(sb, id).GetProperty("status").GetString());
        var k = sb.Csrun("kill", "--all", id, "KILL");
        Assert.True(k.ExitCode == 0, k.ToString());
        WaitStatus(sb, id, "stopped");
        Assert.Equal(0, sb.Csrun("delete", id).ExitCode);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Delete_force_removes_a_running_container()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(null, "sleep", "300"), id).ExitCode);
        int pid = State(sb, id).GetProperty("pid").GetInt32();
        var d = sb.Csrun("delete", "--force", id);
        Assert.True(d.ExitCode == 0, d.ToString());
        Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z"), "init still alive");
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Delete_of_a_created_container_kills_it()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("create", "--bundle", sb.Bundle(null, "sleep", "300"), id).ExitCode);
        var d = sb.Csrun("delete", id);
        Assert.True(d.ExitCode == 0, d.ToString());
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Delete_removes_the_state_directory_with_whatever_else_was_left_in_it()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("create", "--bundle", sb.Bundle(null, "sleep", "300"), id).ExitCode);
        // Not a file csrun writes: delete must still take the directory (it removes its own files by name first).
        Directory.CreateDirectory(Path.Combine(sb.Root, id, "left-behind"));
        File.WriteAllText(Path.Combine(sb.Root, id, "left-behind", "note"), "x");
        var d = sb.Csrun("delete", id);
        Assert.True(d.ExitCode == 0, d.ToString());
        Assert.False(Directory.Exists(Path.Combine(sb.Root, id)), "state directory still there");
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Duplicate_id_is_refused_and_does_not_harm_the_first()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("create", "--bundle", sb.Bundle(null, "sleep", "300"), id).ExitCode);
        var r = sb.Csrun("create", "--bundle", sb.Bundle(null, "true"), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("already exists", r.Stderr);
        Assert.Equal("created", State(sb, id).GetProperty("status").GetString());
    }

    [Fact]
    public void Invalid_id_is_refused()
    {
        using var sb = new Sandbox();
        var r = sb.Csrun("create", "--bundle", sb.Bundle(), "../escape");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("invalid container id", r.Stderr);
    }

    [Fact]
    public void List_shows_containers_in_table_and_json()
    {
        using var sb = new Sandbox();
        string a = sb.NewId("a"), b = sb.NewId("b");
        Assert.Equal(0, sb.Csrun("create", "--bundle", sb.Bundle(null, "sleep", "300"), a).ExitCode);
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(null, "sleep", "300"), b).ExitCode);
        var t = sb.Csrun("list");
        Assert.True(t.ExitCode == 0, t.ToString());
        Assert.StartsWith("ID", t.Stdout);
        Assert.Matches($@"{a}\s+\d+\s+created", t.Stdout);
        Assert.Matches($@"{b}\s+\d+\s+running", t.Stdout);
        var j = sb.Csrun("list", "--format", "json");
        var arr = JsonDocument.Parse(j.Stdout).RootElement;
        Assert.Equal(2, arr.GetArrayLength());
        Assert.Contains(arr.EnumerateArray(), e => e.GetProperty("id").GetString() == b && e.GetProperty("status").GetString() == "running");
        var q = sb.Csrun("list", "-q");
        Assert.Equal(new[] { a, b }.Order(), q.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
    }

    [Fact]
    public void Concurrent_commands_on_one_id_are_serialized()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("create", "--bundle", sb.Bundle(null, "sleep", "300"), id).ExitCode);
        // Two starts race: exactly one wins, the other finds the container already running.
        var t1 = Task.Run(() => sb.Csrun("start", id));
        var t2 = Task.Run(() => sb.Csrun("start", id));
        var results = new[] { t1.Result, t2.Result };
        Assert.Equal(1, results.Count(r => r.ExitCode == 0));
        Assert.Contains("running", results.Single(r => r.ExitCode != 0).Stderr);
    }
}

public class SignalForwardingTests
{
    [Fact]
    public void Run_forwards_signals_it_receives_to_the_container()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        string bundle = sb.Bundle(null, "sh", "-c", "trap 'echo got-usr1; exit 42' USR1; echo ready; while true; do sleep 0.1; done");
        // Start csrun run through sh so we know its pid, signal it, and expect the container's trap to fire.
        var r = Sandbox.Run("/bin/sh", ["-c",
            $"{TestEnv.CsrunBinary} --root {sb.Root} run --bundle {bundle} {id} & p=$!; " +
            $"for i in $(seq 1 200); do {TestEnv.CsrunBinary} --root {sb.Root} state {id} 2>/dev/null | grep -q running && break; sleep 0.05; done; " +
            "sleep 0.2; kill -USR1 $p; wait $p"], TimeSpan.FromSeconds(60));
        Assert.Equal(42, r.ExitCode);
        Assert.Contains("got-usr1", r.Stdout);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void A_signal_before_the_container_runs_is_held_and_delivered_once_it_does()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        // The createRuntime hook is run's child: it signals run while the container is still being set up.
        // Run must not die of it (that would leave the container behind) but pass it on once the process runs.
        // No pid namespace: as a namespace's init, sleep would ignore USR1.
        string bundle = sb.Bundle(s =>
        {
            s.Linux!.Namespaces!.RemoveAll(n => n.Type == "pid");
            s.Hooks = new Csrun.Oci.Hooks { CreateRuntime = [new Csrun.Oci.Hook { Path = "/bin/sh", Args = ["sh", "-c", "kill -USR1 $PPID"] }] };
        }, "sleep", "300");
        var r = sb.Csrun("run", "--bundle", bundle, id);
        Assert.True(r.ExitCode == 138, r.ToString()); // sleep ended by USR1: 128 + 10
        Leaks.AssertNothingLeft(sb, id);
    }
}

/// <summary>native/teardown.c: a foreground run's exit leaves the unmapping of csrun's memory to a holder.</summary>
public partial class ExitTeardownTests
{
    private const int SysKcmp = 312, KcmpVm = 1; // x86_64

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Kcmp(long number, int pid1, int pid2, int type, ulong idx1, ulong idx2);

    private static int ParentOf(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
    }

    /// <summary>Exited: a zombie, or reaped (its /proc entry gone, possibly as it is read).</summary>
    private static bool HasEnded(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "); }
        catch (IOException) { return true; }
    }

    private static List<int> ChildrenOf(int pid)
    {
        var children = new List<int>();
        foreach (string d in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(d), out int p))
                try { if (ParentOf(p) == pid) children.Add(p); } catch (IOException) { } // gone meanwhile
        return children;
    }

    [Fact]
    public void The_holder_shares_csruns_memory_holds_nothing_else_and_ends_after_it()
    {
        // While run waits for its container, it has a second child besides the init: a process (not a thread of
        // csrun's) with csrun's address space (kcmp KCMP_VM), no descriptor but its pidfd of csrun, every signal
        // blocked. Once csrun has exited and reported the container's status, the holder ends too.
        using var sb = new Sandbox();
        string id = sb.NewId();
        var run = Task.Run(() => sb.Csrun("run", "--bundle", sb.Bundle(null, "sleep", "300"), id));
        int holder = 0, csrun = 0;
        try
        {
            for (int i = 0; i < 400 && holder == 0; i++, Thread.Sleep(25))
            {
                var s = sb.Csrun("state", id);
                if (!s.Stdout.Contains("\"running\"")) continue;
                int init = JsonDocument.Parse(s.Stdout).RootElement.GetProperty("pid").GetInt32();
                csrun = ParentOf(init);
                holder = ChildrenOf(csrun).FirstOrDefault(p => p != init);
            }
            Assert.True(holder != 0, "no second child of csrun run appeared while its container ran");
            var status = File.ReadAllLines($"/proc/{holder}/status").Select(l => l.Split(':', 2)).ToDictionary(f => f[0], f => f[1].Trim());
            Assert.Equal(holder.ToString(), status["Tgid"]);
            Assert.Equal(0L, Kcmp(SysKcmp, csrun, holder, KcmpVm, 0, 0));
            ulong blocked = Convert.ToUInt64(status["SigBlk"], 16);
            foreach (int sig in (int[])[1, 2, 3, 10, 12, 15, 17, 28]) // HUP INT QUIT USR1 USR2 TERM CHLD WINCH
                Assert.True((blocked & (1UL << (sig - 1))) != 0, $"signal {sig} not blocked in the holder: SigBlk {status["SigBlk"]}");
            var fds = Directory.GetFileSystemEntries($"/proc/{holder}/fd");
            Assert.True(fds.Length == 1, $"the holder keeps {fds.Length} descriptors: " +
                string.Join(", ", fds.Select(f => $"{Path.GetFileName(f)} -> {new FileInfo(f).LinkTarget}")));
            Assert.Equal("anon_inode:[pidfd]", new FileInfo(fds[0]).LinkTarget);
        }
        finally
        {
            sb.Csrun("kill", id, "KILL");
        }
        Assert.True(run.Wait(TimeSpan.FromSeconds(30)), "run did not end after kill");
        Assert.True(run.Result.ExitCode == 137, run.Result.ToString());
        // Then the holder ends (a zombie until whoever inherited it reaps it): it must not outlive csrun.
        bool ended = false;
        for (int i = 0; i < 400 && !ended; i++, Thread.Sleep(25))
            ended = HasEnded(holder);
        Assert.True(ended, $"the holder {holder} still runs 10 s after csrun's exit");
        Leaks.AssertNothingLeft(sb, id);
    }
}
