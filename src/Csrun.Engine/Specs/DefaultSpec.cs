using Csrun.Linux;
using Csrun.Oci;
using OciProcess = Csrun.Oci.Process;

namespace Csrun.Engine.Specs;

/// <summary>The config.json that `csrun spec` writes: runc's default, so bundles move between the two unchanged.</summary>
public static class DefaultSpec
{
    public const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static readonly string[] MaskedPaths =
    [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
    ];

    public static readonly string[] ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    public static Oci.Spec Create(bool rootless = false)
    {
        string[] caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
        var spec = new Oci.Spec
        {
            OciVersion = "1.1.0",
            Process = new OciProcess
            {
                Terminal = true,
                User = new User { Uid = 0, Gid = 0 },
                Args = ["sh"],
                Env = [DefaultPath, "TERM=xterm"],
                Cwd = "/",
                Capabilities = new LinuxCapabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps], Ambient = [.. caps] },
                Rlimits = [new PosixRlimit { Type = "RLIMIT_NOFILE", Hard = 1024, Soft = 1024 }],
                NoNewPrivileges = true,
            },
            Root = new Root { Path = "rootfs", Readonly = true },
            Hostname = "csrun",
            Mounts =
            [
                new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
                new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
                new Mount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
                new Mount { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
                new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
                new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] },
            ],
            Linux = new Oci.Linux
            {
                Resources = new LinuxResources { Devices = [new LinuxDeviceCgroup { Allow = false, Access = "rwm" }] },
                Namespaces =
                [
                    new LinuxNamespace { Type = "pid" }, new LinuxNamespace { Type = "network" }, new LinuxNamespace { Type = "ipc" },
                    new LinuxNamespace { Type = "uts" }, new LinuxNamespace { Type = "mount" }, new LinuxNamespace { Type = "cgroup" },
                ],
                MaskedPaths = [.. MaskedPaths],
                ReadonlyPaths = [.. ReadonlyPaths],
            },
        };
        if (rootless && spec.Linux.Namespaces is not null && spec.Mounts is not null)
        {
            spec.Linux.Resources = null;
            spec.Linux.Namespaces.RemoveAll(n => n.Type == "network");
            spec.Linux.Namespaces.Add(new LinuxNamespace { Type = "user" });
            // Map container root to whoever runs `csrun spec --rootless`, as runc does.
            spec.Linux.UidMappings = [new LinuxIdMapping { ContainerId = 0, HostId = Libc.GetEuid(), Size = 1 }];
            spec.Linux.GidMappings = [new LinuxIdMapping { ContainerId = 0, HostId = Libc.GetEgid(), Size = 1 }];
            // Only the caller's own ids are mapped: devpts cannot be given gid 5.
            spec.Mounts.Find(m => m.Destination == "/dev/pts")?.Options?.Remove("gid=5");
            spec.Mounts.RemoveAll(m => m.Destination is "/sys" or "/sys/fs/cgroup");
            spec.Mounts.Add(new Mount { Destination = "/sys", Type = "none", Source = "/sys", Options = ["rbind", "nosuid", "noexec", "nodev", "ro"] });
        }
        return spec;
    }
}
