using System.Diagnostics;
using System.Text.Json;
using Csrun.Cgroups;
using Csrun.Engine.Specs;
using Csrun.Oci;

namespace Csrun.Tests;

/// <summary>Where the built csrun and the busybox rootfs are. Missing pieces fail loudly, never skip.</summary>
public static class TestEnv
{
    public static string Repo { get; } = Environment.GetEnvironmentVariable("CSRUN_REPO") ?? FindRepo();

    public static string CsrunBinary
    {
        get
        {
            string p = Environment.GetEnvironmentVariable("CSRUN_BINARY") ?? Path.Combine(Repo, "out/bin/csrun");
            Assert.True(File.Exists(p), $"csrun binary not found at {p}: run `make build` (or set CSRUN_BINARY)");
            return p;
        }
    }

    public static string BusyboxRootfs
    {
        get
        {
            string p = Environment.GetEnvironmentVariable("CSRUN_ROOTFS") ?? Path.Combine(Repo, "out/rootfs/busybox");
            Assert.True(File.Exists(Path.Combine(p, "bin/busybox")), $"busybox rootfs not found at {p}: run `make rootfs`");
            return p;
        }
    }

    /// <summary>The OCI layouts rootfs/mkimages.sh builds (busybox, busybox-docker, layered, multiarch).</summary>
    public static string Images
    {
        get
        {
            string p = Environment.GetEnvironmentVariable("CSRUN_IMAGES") ?? Path.Combine(Repo, "out/images");
            Assert.True(File.Exists(Path.Combine(p, "layered/index.json")), $"test images not found at {p}: run `make images`");
            return p;
        }
    }

    public static void RequireRoot() => Assert.True(Environment.UserName == "root" || geteuid() == 0, "these tests create containers and must run as root");

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();

    private static string FindRepo()
    {
        string? d = AppContext.BaseDirectory;
        while (d is not null && !File.Exists(Path.Combine(d, "Runtime.sln"))) d = Path.GetDirectoryName(d);
        return d ?? throw new InvalidOperationException("cannot find the repository root (Runtime.sln); set CSRUN_REPO");
    }
}

public sealed record ProcResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// One test's sandbox: its own --root state directory and bundles with fresh rootfs copies. Dispose
/// force-deletes every container it created and removes its directories, even when the test failed.
/// </summary>
public sealed class Sandbox : IDisposable
{
    private static readonly string Base = "/run/csrun-tests";
    private readonly List<string> _ids = [];

    public string Root { get; }
    public string Dir { get; }

    public Sandbox()
    {
        TestEnv.RequireRoot();
        Dir = Path.Combine(Path.GetTempPath(), "csrun-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Dir);
        Root = Path.Combine(Base, Path.GetFileName(Dir));
    }

    public string NewId(string prefix = "t")
    {
        string id = $"{prefix}-{Guid.NewGuid().ToString("N")[..10]}";
        _ids.Add(id);
        return id;
    }

    /// <summary>A bundle with runc's default spec (terminal off, writable root), adjusted by <paramref name="edit"/>.</summary>
    public string Bundle(Action<Spec>? edit = null, params string[] args)
    {
        string bundle = Path.Combine(Dir, "bundle-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(bundle);
        Exec("cp", "-a", TestEnv.BusyboxRootfs, Path.Combine(bundle, "rootfs"));
        var spec = DefaultSpec.Create();
        spec.Process!.Terminal = false;
        spec.Process.Args = args.Length > 0 ? [.. args] : ["true"];
        spec.Root!.Readonly = false;
        edit?.Invoke(spec);
        WriteSpec(bundle, spec);
        return bundle;
    }

    public static void WriteSpec(string bundle, Spec spec) =>
        File.WriteAllText(Path.Combine(bundle, "config.json"), JsonSerializer.Serialize(spec, SpecJsonContext.Indented.Spec));

    public ProcResult Csrun(params string[] args) => CsrunWithTimeout(TimeSpan.FromSeconds(60), args);

    public ProcResult CsrunWithTimeout(TimeSpan timeout, params string[] args) =>
        Run(TestEnv.CsrunBinary, ["--root", Root, .. args], timeout);

    /// <summary>csrun with its start-up phase trace on stderr (CSRUN_TRACE_PHASES=1).</summary>
    public ProcResult CsrunTraced(params string[] args) =>
        Run("env", ["CSRUN_TRACE_PHASES=1", TestEnv.CsrunBinary, "--root", Root, .. args], TimeSpan.FromSeconds(60));

    /// <summary>
    /// csrun, phase-traced, as on a host without a cgroup2 hierarchy: in a private mount namespace where the host's
    /// cgroup2 mount (a hybrid host's /sys/fs/cgroup/unified) is unmounted, so that the container gets v1 cgroups only
    /// and the start-up's spawner clones the init ahead of the plan (native/spawner.c). A host with no cgroup2 mount
    /// is that already; a pure cgroup v2 host cannot be made one, and the call fails saying so.
    /// </summary>
    public ProcResult CsrunWithoutCgroup2(params string[] args)
    {
        // The same reading of mountinfo that gives csrun its cgroup layout.
        var layout = CgroupLayout.Detect();
        Assert.True(layout.Mode != CgroupMode.Unified,
            $"this test needs v1 cgroup hierarchies: the host's only cgroup filesystem is cgroup2 at {layout.UnifiedMount}");
        string umount = layout.UnifiedMount is { } m ? $"umount {m} && " : "";
        return Run("unshare", ["-m", "--propagation", "private", "sh", "-c", umount + "exec env CSRUN_TRACE_PHASES=1 \"$@\"", "sh",
            TestEnv.CsrunBinary, "--root", Root, .. args], TimeSpan.FromSeconds(60));
    }

    /// <summary>`csrun run` of a bundle whose process prints something; returns its result.</summary>
    public ProcResult RunContainer(string bundle, string? id = null) => Csrun("run", "--bundle", bundle, id ?? NewId());

    /// <summary>`run -d` of a container that must start; returns its init's pid as `state` reports it.</summary>
    public int RunDetached(string bundle, string id)
    {
        var r = Csrun("run", "-d", "--bundle", bundle, id);
        Assert.True(r.ExitCode == 0, r.ToString());
        return System.Text.Json.JsonDocument.Parse(Csrun("state", id).Stdout).RootElement.GetProperty("pid").GetInt32();
    }

    public static ProcResult Exec(string file, params string[] args) => Run(file, args, TimeSpan.FromSeconds(60));

    /// <summary>
    /// Runs a command with stdout and stderr going to files, not pipes: a detached container inherits
    /// them and may hold them open for as long as it lives, so "read to EOF" would never end.
    /// </summary>
    public static ProcResult Run(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        string tmp = Path.Combine(Path.GetTempPath(), "csrun-out-" + Guid.NewGuid().ToString("N"));
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" </dev/null >\"$CSRUN_T_OUT\" 2>\"$CSRUN_T_ERR\"");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["CSRUN_T_OUT"] = tmp + ".out";
        psi.Environment["CSRUN_T_ERR"] = tmp + ".err";
        try
        {
            using var p = System.Diagnostics.Process.Start(psi)!;
            if (!p.WaitForExit(timeout))
            {
                p.Kill(true);
                throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout}");
            }
            return new ProcResult(p.ExitCode, ReadShared(tmp + ".out"), ReadShared(tmp + ".err"));
        }
        finally
        {
            File.Delete(tmp + ".out");
            File.Delete(tmp + ".err");
        }
    }

    private static string ReadShared(string path)
    {
        if (!File.Exists(path)) return "";
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var sr = new StreamReader(fs);
        return sr.ReadToEnd();
    }

    public void Dispose()
    {
        foreach (var id in _ids)
        {
            try
            {
                Run(TestEnv.CsrunBinary, ["--root", Root, "delete", "--force", id], TimeSpan.FromSeconds(30));
            }
            catch (Exception)
            {
            }
        }
        // Image tests mount rootfs overlays under Dir: never recurse into a live mount.
        foreach (var m in Leaks.Mounts(Dir).OrderByDescending(m => m.Length))
            Run("umount", ["-l", m], TimeSpan.FromSeconds(10));
        try
        {
            Directory.Delete(Dir, true);
        }
        catch (Exception)
        {
        }
        try
        {
            if (Directory.Exists(Root)) Directory.Delete(Root, true);
        }
        catch (Exception)
        {
        }
    }
}

public static class Leaks
{
    /// <summary>Every cgroup directory of this path that still exists, in any hierarchy (v1, hybrid or v2).</summary>
    public static List<string> CgroupDirs(string relative)
    {
        var found = new List<string>();
        foreach (var h in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            string p = Path.Combine(h, relative.TrimStart('/'));
            if (Directory.Exists(p)) found.Add(p);
        }
        string v2 = Path.Combine("/sys/fs/cgroup", relative.TrimStart('/'));
        if (File.Exists("/sys/fs/cgroup/cgroup.controllers") && Directory.Exists(v2)) found.Add(v2);
        return found;
    }

    /// <summary>Mount points of ours (under a test directory) still present in the host's mount table.</summary>
    public static List<string> Mounts(string under) =>
        File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(under, StringComparison.Ordinal)).ToList();

    /// <summary>Live processes whose command line names this container id: csrun's own clones carry its argv until
    /// they exec, so a half-made container's init would show here (zombies have no command line).</summary>
    public static List<int> Processes(string id)
    {
        var found = new List<int>();
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out int pid) || pid == Environment.ProcessId) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(d, "cmdline")).Split('\0').Contains(id)) found.Add(pid);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return found;
    }

    /// <summary>`run` of bundle fails with a message naming each of expected, and leaves nothing behind.</summary>
    public static void AssertRunFails(Sandbox sb, string bundle, params string[] expected)
    {
        string id = sb.NewId();
        var r = sb.Csrun("run", "--bundle", bundle, id);
        Assert.True(r.ExitCode != 0, "expected failure: " + r);
        Assert.StartsWith("csrun: run: ", r.Stderr);
        foreach (var e in expected) Assert.Contains(e, r.Stderr);
        AssertNothingLeft(sb, id);
    }

    public static void AssertNothingLeft(Sandbox sb, string id)
    {
        // A killed process may take a moment to be gone.
        var procs = Processes(id);
        for (int i = 0; i < 100 && procs.Count > 0; i++)
        {
            Thread.Sleep(20);
            procs = Processes(id);
        }
        Assert.True(procs.Count == 0, $"processes of {id} left behind: {string.Join(", ", procs)}");
        Assert.False(Directory.Exists(Path.Combine(sb.Root, id)), $"state directory of {id} left behind");
        var cg = CgroupDirs("csrun/" + id);
        Assert.True(cg.Count == 0, "cgroups left behind: " + string.Join(", ", cg));
        var mounts = Mounts(sb.Dir);
        Assert.True(mounts.Count == 0, "mounts left behind: " + string.Join(", ", mounts));
    }
}

/// <summary>
/// Machine-wide paths a tool makes whatever its options say (containerd 1.6's shim sockets and ctr's fifos under
/// /run/containerd, podman's blob-info cache under /var/lib/containers): those that did not exist when the
/// fixture started are removed again at its end, a directory only once it is empty. List them deepest first.
/// </summary>
public sealed class MadeHere(params string[] paths)
{
    private readonly string[] _made = paths.Where(p => !Path.Exists(p)).ToArray();

    public void Remove()
    {
        foreach (string p in _made)
        {
            try
            {
                if (File.Exists(p)) File.Delete(p);
                else if (Directory.Exists(p)) Directory.Delete(p);
            }
            catch (IOException)
            {
                // Not empty: something else uses it now.
            }
        }
    }
}
