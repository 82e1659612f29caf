// csrund against Debian's containerd (CRI plugin, runc v2 shim), in the same run, through the same gRPC
// client: the latency of RunPodSandbox + CreateContainer + StartContainer per pod (p50, p99), the daemon's
// RSS with 0 and with N pods, and what each pod adds outside the daemon (csrun-monitor and the pod's pause
// process for csrund; containerd-shim-runc-v2 and the sandbox container for containerd).
//
//   dotnet run -c Release --project benchmarks/Csrun.Benchmarks -- cri --csrund out/bin/csrund \
//       --images out/images [--pods 50] [--warmup 3] [--out out/bench]
//
// Every daemon gets its own state under /run/csrun-cribench-*, its own socket, CNI network (bridge and
// 10.254.x.0/24 subnet, private to the pods' namespaces) and image store; all of it is removed at the end.
// containerd's sandbox image is the busybox test image with `sleep` as its command (there is no
// registry.k8s.io/pause offline). The requests are what a kubelet sends for a plain pod: pid namespace
// CONTAINER, network and IPC of the pod, a log directory.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Grpc.Net.Client;
using V1 = Csrun.Cri.V1;

namespace Csrun.Benchmarks;

public static class CriBenchmark
{
    private const string Image = "localhost/bench/busybox:latest";
    private const string PauseImage = "localhost/bench/pause:latest";

    private sealed record Result(string Runtime, double P50, double P99, double Mean, long Rss0, long RssN, long PerPodRss, int Pods);

    public static int Run(string[] args)
    {
        string? csrund = null, images = null, outDir = "out/bench";
        int pods = 50, warmup = 3;
        for (int i = 0; i < args.Length; i++)
        {
            string V() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--csrund": csrund = Path.GetFullPath(V()); break;
                case "--images": images = Path.GetFullPath(V()); break;
                case "--out": outDir = V(); break;
                case "--pods": pods = int.Parse(V(), CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = int.Parse(V(), CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"csrun-bench cri: unknown argument {args[i]}"); return 2;
            }
        }
        if (csrund is null || images is null || !File.Exists(csrund) || !File.Exists(Path.Combine(images, "busybox/index.json")))
        {
            Console.Error.WriteLine("csrun-bench cri: need --csrund BINARY (make build) and --images DIR (make images)");
            return 2;
        }
        string bin = Path.GetDirectoryName(csrund)!;
        foreach (string tool in new[] { Path.Combine(bin, "csrun"), Path.Combine(bin, "csrun-monitor") })
            if (!File.Exists(tool)) { Console.Error.WriteLine($"csrun-bench cri: {tool} not found (make build)"); return 2; }
        foreach (string tool in new[] { "containerd", "ctr", "umoci", "containerd-shim-runc-v2", "runc" })
            if (Which(tool) is null) { Console.Error.WriteLine($"csrun-bench cri: {tool} not found (make deps installs it)"); return 1; }

        var results = new List<Result>();
        results.Add(Measure(new CsrundUnderTest(csrund, images), pods, warmup));
        results.Add(Measure(new ContainerdUnderTest(images), pods, warmup));

        var md = new StringBuilder();
        md.AppendLine($"RunPodSandbox + CreateContainer + StartContainer, {pods} pods one after another ({warmup} warm-up pods first), same gRPC client:");
        md.AppendLine();
        md.AppendLine("| runtime | p50 | p99 | mean | daemon RSS, 0 pods | daemon RSS, " + pods + " pods | per pod outside the daemon |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Runtime} | {r.P50:F1} ms | {r.P99:F1} ms | {r.Mean:F1} ms | {Mib(r.Rss0)} | {Mib(r.RssN)} | {Mib(r.PerPodRss / Math.Max(1, r.Pods))} |");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "cri.md"), md.ToString());
        Console.WriteLine(md.ToString());
        return 0;
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB";

    private static Result Measure(DaemonUnderTest daemon, int pods, int warmup)
    {
        Console.Error.WriteLine($"csrun-bench cri: {daemon.Name}");
        try
        {
            daemon.Start();
            using var channel = Connect(daemon.Socket);
            var rt = new V1.RuntimeService.RuntimeServiceClient(channel);
            for (int i = 0; i < warmup; i++)
            {
                string pod = StartPod(rt, daemon, $"warm{i}", out _);
                rt.StopPodSandbox(new V1.StopPodSandboxRequest { PodSandboxId = pod });
                rt.RemovePodSandbox(new V1.RemovePodSandboxRequest { PodSandboxId = pod });
            }
            Thread.Sleep(1000);
            long rss0 = Rss(daemon.Pid);
            var times = new List<double>();
            for (int i = 0; i < pods; i++)
            {
                StartPod(rt, daemon, $"pod{i}", out double ms);
                times.Add(ms);
            }
            Thread.Sleep(1000);
            long rssN = Rss(daemon.Pid);
            long perPod = daemon.HelperPids().Sum(Rss);
            foreach (var p in rt.ListPodSandbox(new V1.ListPodSandboxRequest()).Items)
            {
                rt.StopPodSandbox(new V1.StopPodSandboxRequest { PodSandboxId = p.Id });
                rt.RemovePodSandbox(new V1.RemovePodSandboxRequest { PodSandboxId = p.Id });
            }
            times.Sort();
            return new Result(daemon.Name, Percentile(times, 0.50), Percentile(times, 0.99), times.Average(), rss0, rssN, perPod, pods);
        }
        finally
        {
            daemon.Dispose();
        }
    }

    private static string StartPod(V1.RuntimeService.RuntimeServiceClient rt, DaemonUnderTest daemon, string name, out double ms)
    {
        var podConfig = new V1.PodSandboxConfig
        {
            Metadata = new V1.PodSandboxMetadata { Name = name, Namespace = "bench", Uid = Guid.NewGuid().ToString() },
            Hostname = name,
            LogDirectory = Path.Combine(daemon.Dir, "logs", name),
            Linux = new V1.LinuxPodSandboxConfig
            {
                // Only csrun's own cgroup subtree is written on this machine, by either daemon.
                CgroupParent = daemon.CgroupParent(name),
                SecurityContext = new V1.LinuxSandboxSecurityContext
                {
                    NamespaceOptions = new V1.NamespaceOption { Network = V1.NamespaceMode.Pod, Pid = V1.NamespaceMode.Container, Ipc = V1.NamespaceMode.Pod },
                },
            },
        };
        var config = new V1.ContainerConfig
        {
            Metadata = new V1.ContainerMetadata { Name = "app" },
            Image = new V1.ImageSpec { Image = Image },
            Command = { "sleep", "3600" },
            LogPath = "app/0.log",
            Linux = new V1.LinuxContainerConfig
            {
                SecurityContext = new V1.LinuxContainerSecurityContext { NamespaceOptions = podConfig.Linux.SecurityContext.NamespaceOptions },
            },
        };
        var sw = Stopwatch.StartNew();
        string pod = rt.RunPodSandbox(new V1.RunPodSandboxRequest { Config = podConfig }).PodSandboxId;
        string id = rt.CreateContainer(new V1.CreateContainerRequest { PodSandboxId = pod, Config = config, SandboxConfig = podConfig }).ContainerId;
        rt.StartContainer(new V1.StartContainerRequest { ContainerId = id });
        ms = sw.Elapsed.TotalMilliseconds;
        return pod;
    }

    private static double Percentile(List<double> sorted, double p)
    {
        double rank = p * (sorted.Count - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }

    internal static long Rss(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        return 0;
    }

    internal static IEnumerable<int> Processes(Func<string, string, bool> match)
    {
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string comm, cmdline;
            try
            {
                comm = File.ReadAllText(Path.Combine(dir, "comm")).Trim();
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
            }
            catch (IOException) { continue; }
            if (match(comm, cmdline)) yield return pid;
        }
    }

    private static GrpcChannel Connect(string socket) =>
        GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                    await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socket), ct);
                    return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
                },
            },
        });

    internal static string? Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':').Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    internal static void Sh(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd() + p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {err}");
    }

    internal static void WaitForSocket(string path, Process p, string name)
    {
        for (int i = 0; i < 300 && !File.Exists(path); i++)
        {
            if (p.HasExited) throw new InvalidOperationException($"{name} exited with {p.ExitCode}");
            Thread.Sleep(50);
        }
        if (!File.Exists(path)) throw new TimeoutException($"{name} did not create {path}");
        Thread.Sleep(300);
    }

    private abstract class DaemonUnderTest : IDisposable
    {
        protected Process? Process;

        protected DaemonUnderTest(string name, int subnet)
        {
            Name = name;
            Dir = $"/run/csrun-cribench-{name.Split(' ')[0]}";
            if (Directory.Exists(Dir)) Directory.Delete(Dir, true);
            Directory.CreateDirectory(Path.Combine(Dir, "net.d"));
            Bridge = $"cribench{subnet}";
            File.WriteAllText(Path.Combine(Dir, "net.d", "10-bench.conflist"), $$"""
                { "cniVersion": "1.0.0", "name": "bench{{subnet}}",
                  "plugins": [
                    { "type": "bridge", "bridge": "{{Bridge}}", "isGateway": true, "ipMasq": false,
                      "ipam": { "type": "host-local", "dataDir": "{{Dir}}/ipam", "ranges": [[{ "subnet": "10.254.{{subnet}}.0/24" }]] } },
                    { "type": "portmap", "capabilities": { "portMappings": true } },
                    { "type": "loopback" } ] }
                """);
        }

        public string Name { get; }
        public string Dir { get; }
        public string Bridge { get; }
        public abstract string Socket { get; }
        public int Pid => Process!.Id;

        public abstract void Start();
        public abstract IEnumerable<int> HelperPids();
        public abstract string CgroupParent(string pod);
        protected abstract string CgroupRoot { get; }

        public virtual void Dispose()
        {
            if (Process is { HasExited: false })
            {
                Process.Kill();
                Process.WaitForExit();
            }
            Process?.Dispose();
            try { Sh("ip", "link", "del", Bridge); } catch (InvalidOperationException) { }
            foreach (string m in File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(Dir + "/", StringComparison.Ordinal)).Reverse())
                try { Sh("umount", "-l", m); } catch (InvalidOperationException) { }
            try { Directory.Delete(Dir, true); } catch (IOException) { }
            // The pods' parent cgroups the daemon made (empty once the pods are gone).
            foreach (string hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup"))
            {
                string root = hierarchy + CgroupRoot;
                if (!Directory.Exists(root)) continue;
                foreach (string d in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(root))
                    try { Directory.Delete(d); } catch (IOException) { }
            }
        }
    }

    private sealed class CsrundUnderTest(string csrund, string images) : DaemonUnderTest("csrund", 1)
    {
        public override string Socket => Path.Combine(Dir, "csrund.sock");

        public override void Start()
        {
            string bin = Path.GetDirectoryName(csrund)!;
            Sh(Path.Combine(bin, "csrun"), "image", "import", "--image-root", Path.Combine(Dir, "images"), "--name", Image, Path.Combine(images, "busybox"));
            var psi = new ProcessStartInfo(csrund) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (string a in (string[])["--listen", Socket, "--root", Path.Combine(Dir, "state"), "--image-root", Path.Combine(Dir, "images"),
                         "--netns-dir", Path.Combine(Dir, "netns"), "--cni-conf-dir", Path.Combine(Dir, "net.d")])
                psi.ArgumentList.Add(a);
            psi.Environment["CSRUN_MONITOR"] = Path.Combine(bin, "csrun-monitor");
            Process = System.Diagnostics.Process.Start(psi)!;
            _ = Process.StandardOutput.ReadToEndAsync();
            _ = Process.StandardError.ReadToEndAsync();
            WaitForSocket(Socket, Process, "csrund");
        }

        public override IEnumerable<int> HelperPids() =>
            Processes((comm, cmd) => (comm == "csrun-monitor" && cmd.Contains(Dir, StringComparison.Ordinal)) || comm == "csrun-pause");

        // csrund puts a kubelet's cgroup parent under /csrun itself.
        public override string CgroupParent(string pod) => $"cribench/{pod}";
        protected override string CgroupRoot => "/csrun/cribench";
    }

    private sealed class ContainerdUnderTest(string images) : DaemonUnderTest("containerd 1.6 + runc", 2)
    {
        public override string Socket => Path.Combine(Dir, "containerd.sock");

        public override void Start()
        {
            // The sandbox image: busybox with a command that waits, made with umoci from the test layout.
            string pause = Path.Combine(Dir, "pause");
            Sh("cp", "-a", Path.Combine(images, "busybox"), pause);
            Sh("umoci", "config", "--image", pause + ":latest", "--config.cmd", "sleep", "--config.cmd", "2147483647");
            File.WriteAllText(Path.Combine(Dir, "config.toml"), $$"""
                version = 2
                root = "{{Dir}}/root"
                state = "{{Dir}}/state"
                [grpc]
                  address = "{{Socket}}"
                [ttrpc]
                  address = "{{Dir}}/ttrpc.sock"
                [plugins."io.containerd.grpc.v1.cri"]
                  sandbox_image = "{{PauseImage}}"
                  stream_server_port = "0"
                  restrict_oom_score_adj = true
                  enable_cdi = false
                  [plugins."io.containerd.grpc.v1.cri".cni]
                    bin_dir = "/usr/lib/cni"
                    conf_dir = "{{Dir}}/net.d"
                  [plugins."io.containerd.grpc.v1.cri".containerd]
                    snapshotter = "overlayfs"
                    default_runtime_name = "runc"
                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                      runtime_type = "io.containerd.runc.v2"
                """);
            var psi = new ProcessStartInfo("containerd") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            psi.ArgumentList.Add("--config");
            psi.ArgumentList.Add(Path.Combine(Dir, "config.toml"));
            Process = System.Diagnostics.Process.Start(psi)!;
            _ = Process.StandardOutput.ReadToEndAsync();
            _ = Process.StandardError.ReadToEndAsync();
            WaitForSocket(Socket, Process, "containerd");
            string tar = Path.Combine(Dir, "images.tar");
            foreach (var (layout, name) in new[] { (Path.Combine(images, "busybox"), "localhost/bench/busybox"), (pause, "localhost/bench/pause") })
            {
                Sh("tar", "-C", layout, "-cf", tar, ".");
                Sh("ctr", "--address", Socket, "-n", "k8s.io", "images", "import", "--base-name", name, tar);
            }
        }

        public override string CgroupParent(string pod) => $"/csrun/cribench-containerd/{pod}";
        protected override string CgroupRoot => "/csrun/cribench-containerd";

        public override IEnumerable<int> HelperPids()
        {
            var shims = Processes((comm, cmd) => comm.StartsWith("containerd-shim", StringComparison.Ordinal) && cmd.Contains(Socket, StringComparison.Ordinal)).ToList();
            // The sandbox containers' processes (the pause stand-in) are the shims' children running sleep 2147483647.
            var pauses = Processes((comm, cmd) => cmd.Contains("sleep 2147483647", StringComparison.Ordinal));
            return shims.Concat(pauses);
        }

        public override void Dispose()
        {
            // Shims outlive containerd; the pods were removed, so each shim has exited or is about to.
            base.Dispose();
        }
    }
}
