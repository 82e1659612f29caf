using System.Diagnostics;
using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;

namespace Csrun.Tests;

/// <summary>
/// A private containerd (Debian's 1.6, started by the fixture on its own socket and directories, CRI off)
/// with an OCI image built here from the busybox rootfs. Its runc v2 shim drives csrun as its runc binary.
/// </summary>
public sealed class ContainerdFixture : IDisposable
{
    public const string Image = "docker.io/library/csrun-busybox:test";
    private readonly Process _containerd;
    // Where the shim puts its sockets and ctr its fifos, whatever the config says.
    private readonly MadeHere _machine = new("/run/containerd/s", "/run/containerd/fifo", "/run/containerd");

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "csrun-ctd-" + Guid.NewGuid().ToString("N")[..8]);
    public string Socket => Path.Combine(Dir, "containerd.sock");
    public string RuncRoot => Path.Combine(Dir, "csrun-state");

    public ContainerdFixture()
    {
        TestEnv.RequireRoot();
        Assert.True(File.Exists("/usr/bin/containerd") && File.Exists("/usr/bin/containerd-shim-runc-v2"),
            "containerd is not installed (Debian package containerd; `make test` installs it)");
        Directory.CreateDirectory(Dir);
        File.WriteAllText(Path.Combine(Dir, "config.toml"), $"""
            version = 2
            root = "{Dir}/root"
            state = "{Dir}/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "{Socket}"
            [ttrpc]
              address = "{Socket}.ttrpc"
            """);
        var psi = new ProcessStartInfo("/usr/bin/containerd") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(Path.Combine(Dir, "config.toml"));
        _containerd = Process.Start(psi)!;
        _containerd.ErrorDataReceived += (_, _) => { };
        _containerd.OutputDataReceived += (_, _) => { };
        _containerd.BeginErrorReadLine();
        _containerd.BeginOutputReadLine();
        for (int i = 0; i < 100 && Ctr("version").ExitCode != 0; i++) Thread.Sleep(50);
        string tar = Path.Combine(Dir, "image.tar");
        OciArchive.Write(TestEnv.BusyboxRootfs, tar, Image);
        var import = Ctr("images", "import", tar);
        Assert.True(import.ExitCode == 0, import.ToString());
    }

    public ProcResult Ctr(params string[] args) => Sandbox.Run("/usr/bin/ctr", ["--address", Socket, .. args], TimeSpan.FromSeconds(60));

    public void Dispose()
    {
        try
        {
            Ctr("images", "rm", Image);
        }
        finally
        {
            _containerd.Kill();
            _containerd.WaitForExit(10000);
            _containerd.Dispose();
            try { Directory.Delete(Dir, true); } catch (IOException) { }
            _machine.Remove();
        }
    }
}

/// <summary>An OCI image layout archive (one uncompressed layer) that `ctr images import` takes.</summary>
public static class OciArchive
{
    public static void Write(string rootfs, string path, string name)
    {
        var layerStream = new MemoryStream();
        TarFile.CreateFromDirectory(rootfs, layerStream, includeBaseDirectory: false);
        byte[] layer = layerStream.ToArray();
        string Json(string text) => text.Replace('\'', '"');
        byte[] config = Encoding.UTF8.GetBytes(Json("{'architecture':'amd64','os':'linux','config':{'Cmd':['sh'],'Env':['PATH=/bin:/sbin:/usr/bin']},"
            + "'rootfs':{'type':'layers','diff_ids':['" + Digest(layer) + "']}}"));
        byte[] manifest = Encoding.UTF8.GetBytes(Json("{'schemaVersion':2,'mediaType':'application/vnd.oci.image.manifest.v1+json',"
            + "'config':{'mediaType':'application/vnd.oci.image.config.v1+json','digest':'" + Digest(config) + "','size':" + config.Length + "},"
            + "'layers':[{'mediaType':'application/vnd.oci.image.layer.v1.tar','digest':'" + Digest(layer) + "','size':" + layer.Length + "}]}"));
        byte[] index = Encoding.UTF8.GetBytes(Json("{'schemaVersion':2,'manifests':[{'mediaType':'application/vnd.oci.image.manifest.v1+json',"
            + "'digest':'" + Digest(manifest) + "','size':" + manifest.Length + ","
            + "'annotations':{'io.containerd.image.name':'" + name + "','org.opencontainers.image.ref.name':'test'}}]}"));
        using var fs = File.Create(path);
        using var w = new TarWriter(fs);
        void Add(string entry, byte[] data) => w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, entry) { DataStream = new MemoryStream(data) });
        Add("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray());
        Add("index.json", index);
        foreach (var blob in new[] { layer, config, manifest }) Add("blobs/sha256/" + Digest(blob)[7..], blob);
    }

    private static string Digest(byte[] data) => "sha256:" + Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
}

public class ContainerdTests(ContainerdFixture ctd) : IClassFixture<ContainerdFixture>
{

    [Fact]
    public void Ctr_run_drives_csrun_and_returns_the_exit_code()
    {
        string id = "ctd-" + Guid.NewGuid().ToString("N")[..8];
        var r = ctd.Ctr("run", "--rm", "--cgroup", $"/csrun/ctr-tests/{id}", "--runc-binary", TestEnv.CsrunBinary, "--runc-root", ctd.RuncRoot, ContainerdFixture.Image, id,
            "sh", "-c", "echo hello from csrun; cat /proc/1/comm; exit 3");
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("hello from csrun", r.Stdout);
        Assert.False(Directory.Exists(Path.Combine(ctd.RuncRoot, "default", id)), "csrun state left behind");
    }

    [Fact]
    public void Ctr_task_exec_metrics_kill_delete()
    {
        string id = "ctd-" + Guid.NewGuid().ToString("N")[..8];
        var r = ctd.Ctr("run", "-d", "--cgroup", $"/csrun/ctr-tests/{id}", "--runc-binary", TestEnv.CsrunBinary, "--runc-root", ctd.RuncRoot, ContainerdFixture.Image, id, "sleep", "300");
        Assert.True(r.ExitCode == 0, r.ToString());
        try
        {
            // csrun's own view of the container the shim created.
            var state = Sandbox.Run(TestEnv.CsrunBinary, ["--root", Path.Combine(ctd.RuncRoot, "default"), "state", id], TimeSpan.FromSeconds(30));
            Assert.Contains("\"running\"", state.Stdout);
            var exec = ctd.Ctr("task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo exec-ok; cat /proc/1/comm; exit 4");
            Assert.Equal(4, exec.ExitCode);
            Assert.Contains("exec-ok\nsleep", exec.Stdout);
            var metrics = ctd.Ctr("task", "metrics", id);
            Assert.True(metrics.ExitCode == 0, metrics.ToString());
            Assert.Matches(@"pids\.current\s+1", metrics.Stdout);
            var kill = ctd.Ctr("task", "kill", "-s", "SIGKILL", id);
            Assert.True(kill.ExitCode == 0, kill.ToString());
            for (int i = 0; i < 100 && !ctd.Ctr("task", "ls").Stdout.Contains("STOPPED"); i++) Thread.Sleep(50);
            var del = ctd.Ctr("task", "delete", id);
            Assert.True(del.ExitCode == 0, del.ToString());
            Assert.False(Directory.Exists(Path.Combine(ctd.RuncRoot, "default", id)), "csrun state left behind");
            Assert.Empty(Leaks.CgroupDirs("default/" + id));
        }
        finally
        {
            ctd.Ctr("task", "kill", "-s", "SIGKILL", id);
            Thread.Sleep(200);
            ctd.Ctr("task", "delete", id);
            ctd.Ctr("container", "rm", id);
        }
    }
}
