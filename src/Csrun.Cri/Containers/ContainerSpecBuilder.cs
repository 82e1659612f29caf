using Csrun.Cri.State;
using Csrun.Cri.V1;
using Csrun.Engine.Specs;
using Csrun.Linux;
using Csrun.Oci;
using OciMount = Csrun.Oci.Mount;

namespace Csrun.Cri.Containers;

/// <summary>
/// A CRI container request (with its pod's) as an OCI spec, the way containerd's CRI plugin builds one: the
/// pod's namespaces joined by path, the pod's /etc files and /dev/shm, the security context and resources.
/// The image's part (command, env, user, working dir, volumes) is added by ImageSpec.Apply afterwards.
/// </summary>
public static class ContainerSpecBuilder
{
    // Docker's and containerd's default set, which the kubelet's capability add/drop lists are relative to.
    public static readonly string[] DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    public static Spec Build(PodRecord pod, ContainerConfig config, string podDir, string containerId, string seccompRoot, int targetPid = 0)
    {
        var sc = config.Linux?.SecurityContext ?? new LinuxContainerSecurityContext();
        bool privileged = sc.Privileged;
        if (privileged && pod.Config.Linux?.SecurityContext?.Privileged != true)
            throw CriErrors.InvalidArgument("linux.security_context.privileged", "a privileged container needs a privileged pod sandbox");

        var spec = DefaultSpec.Create();
        spec.Hostname = null; // the pod's UTS namespace has it already
        spec.Root!.Readonly = sc.ReadonlyRootfs;
        var p = spec.Process!;
        p.Terminal = config.Tty;
        p.Env = [DefaultSpec.DefaultPath];
        foreach (var kv in config.Envs)
        {
            if (string.IsNullOrEmpty(kv.Key)) throw CriErrors.InvalidArgument("envs", "an environment variable has an empty name");
            p.Env.Add($"{kv.Key}={kv.Value}");
        }
        p.NoNewPrivileges = sc.NoNewPrivs;
        p.Capabilities = Capabilities(sc, privileged);
        p.Rlimits = null; // the runtime's inherited limits, as containerd
        p.OomScoreAdj = config.Linux?.Resources is { } r0 ? RestrictOomScoreAdj(r0.OomScoreAdj) : null;

        var linux = spec.Linux!;
        linux.CgroupsPath = $"{pod.CgroupPath}/{containerId}";
        linux.Namespaces = Namespaces(pod, sc.NamespaceOptions, targetPid);
        linux.Resources = Resources(config.Linux?.Resources, privileged);
        linux.Devices = Devices(config, privileged, linux.Resources);
        if (privileged)
        {
            linux.MaskedPaths = null;
            linux.ReadonlyPaths = null;
        }
        else
        {
            if (sc.MaskedPaths.Count > 0) linux.MaskedPaths = [.. sc.MaskedPaths];
            if (sc.ReadonlyPaths.Count > 0) linux.ReadonlyPaths = [.. sc.ReadonlyPaths];
        }
        linux.Seccomp = privileged ? null : SeccompProfiles.For(sc, seccompRoot);

        spec.Mounts = Mounts(spec.Mounts!, pod, config, podDir, privileged, sc.ReadonlyRootfs);
        // As containerd: a bidirectional mount needs the container's mounts in the host's peer groups (rshared
        // root), a host-to-container one needs them slaves of the host's (rslave root).
        if (config.Mounts.Any(m => m.Propagation == MountPropagation.PropagationBidirectional)) linux.RootfsPropagation = "rshared";
        else if (config.Mounts.Any(m => m.Propagation == MountPropagation.PropagationHostToContainer)) linux.RootfsPropagation = "rslave";
        spec.Annotations = new Dictionary<string, string>(config.Annotations)
        {
            ["io.kubernetes.cri.container-type"] = "container",
            ["io.kubernetes.cri.container-name"] = config.Metadata.Name,
            ["io.kubernetes.cri.sandbox-id"] = pod.Id,
            ["io.kubernetes.cri.sandbox-name"] = pod.Config.Metadata.Name,
            ["io.kubernetes.cri.sandbox-namespace"] = pod.Config.Metadata.Namespace,
            ["io.kubernetes.cri.sandbox-uid"] = pod.Config.Metadata.Uid,
        };
        return spec;
    }

    /// <summary>The user part of the request as an image-spec user string ("uid", "name", "uid:gid"), or null
    /// for the image's own USER.</summary>
    public static string? User(ContainerConfig config)
    {
        var sc = config.Linux?.SecurityContext;
        if (sc is null) return null;
        string? user = sc.RunAsUser is { } uid ? uid.Value.ToString() : sc.RunAsUsername is { Length: > 0 } name ? name : null;
        if (sc.RunAsGroup is { } gid)
        {
            if (user is null) throw CriErrors.InvalidArgument("linux.security_context.run_as_group", "needs run_as_user or run_as_username");
            user += ":" + gid.Value;
        }
        return user;
    }

    /// <summary>After the image's user is resolved: the request's supplemental groups join its additional gids.</summary>
    public static void AddSupplementalGroups(Spec spec, ContainerConfig config)
    {
        var groups = config.Linux?.SecurityContext?.SupplementalGroups;
        if (groups is null || groups.Count == 0) return;
        var user = spec.Process!.User;
        user.AdditionalGids ??= [];
        foreach (long g in groups)
            if (!user.AdditionalGids.Contains((uint)g)) user.AdditionalGids.Add((uint)g);
    }

    private static LinuxCapabilities Capabilities(LinuxContainerSecurityContext sc, bool privileged)
    {
        var set = new List<string>(privileged ? Csrun.Linux.Capabilities.BoundingNames() : DefaultCapabilities);
        var c = sc.Capabilities;
        if (!privileged && c is not null)
        {
            foreach (string drop in c.DropCapabilities)
            {
                if (drop.Equals("ALL", StringComparison.OrdinalIgnoreCase)) set.Clear();
                else set.Remove(CapName(drop, "linux.security_context.capabilities.drop_capabilities"));
            }
            foreach (string add in c.AddCapabilities)
            {
                if (add.Equals("ALL", StringComparison.OrdinalIgnoreCase)) { set = [.. Csrun.Linux.Capabilities.BoundingNames()]; continue; }
                string name = CapName(add, "linux.security_context.capabilities.add_capabilities");
                if (!set.Contains(name)) set.Add(name);
            }
        }
        var ambient = new List<string>();
        foreach (string a in c?.AddAmbientCapabilities ?? [])
        {
            string name = CapName(a, "linux.security_context.capabilities.add_ambient_capabilities");
            ambient.Add(name);
            if (!set.Contains(name)) set.Add(name);
        }
        return new LinuxCapabilities
        {
            Bounding = [.. set], Effective = [.. set], Permitted = [.. set],
            Inheritable = ambient.Count > 0 ? [.. ambient] : null, Ambient = ambient.Count > 0 ? ambient : null,
        };
    }

    private static string CapName(string name, string field)
    {
        string full = name.StartsWith("CAP_", StringComparison.OrdinalIgnoreCase) ? name.ToUpperInvariant() : "CAP_" + name.ToUpperInvariant();
        if (!Csrun.Linux.Capabilities.AllNames().Contains(full))
            throw CriErrors.InvalidArgument(field, $"unknown capability \"{name}\"");
        return full;
    }

    private static List<LinuxNamespace> Namespaces(PodRecord pod, NamespaceOption? options, int targetPid)
    {
        var ns = new List<LinuxNamespace> { new() { Type = "mount" } };
        if (pod.NetnsPath is not null) ns.Add(new LinuxNamespace { Type = "network", Path = pod.NetnsPath });
        if (pod.IpcPath is not null) ns.Add(new LinuxNamespace { Type = "ipc", Path = pod.IpcPath });
        if (pod.UtsPath is not null) ns.Add(new LinuxNamespace { Type = "uts", Path = pod.UtsPath });
        switch (options?.Pid ?? NamespaceMode.Pod)
        {
            case NamespaceMode.Container:
                ns.Add(new LinuxNamespace { Type = "pid" });
                break;
            case NamespaceMode.Node:
                break;
            case NamespaceMode.Pod:
                // The pod's, when it has one (pid POD at RunPodSandbox); else the container's own.
                ns.Add(new LinuxNamespace { Type = "pid", Path = pod.PidPath });
                break;
            case NamespaceMode.Target:
                ns.Add(new LinuxNamespace { Type = "pid", Path = $"/proc/{targetPid}/ns/pid" });
                break;
        }
        return ns;
    }

    private static LinuxResources Resources(LinuxContainerResources? r, bool privileged)
    {
        var res = new LinuxResources
        {
            Devices = [new LinuxDeviceCgroup { Allow = privileged, Access = "rwm" }],
        };
        if (r is null) return res;
        if (r.CpuShares > 0 || r.CpuQuota != 0 || r.CpuPeriod > 0 || r.CpusetCpus.Length > 0 || r.CpusetMems.Length > 0)
        {
            res.Cpu = new LinuxCpu
            {
                Shares = r.CpuShares > 0 ? (ulong)r.CpuShares : null,
                Quota = r.CpuQuota != 0 ? r.CpuQuota : null,
                Period = r.CpuPeriod > 0 ? (ulong)r.CpuPeriod : null,
                Cpus = r.CpusetCpus.Length > 0 ? r.CpusetCpus : null,
                Mems = r.CpusetMems.Length > 0 ? r.CpusetMems : null,
            };
        }
        if (r.MemoryLimitInBytes < 0) throw CriErrors.InvalidArgument("linux.resources.memory_limit_in_bytes", "must not be negative");
        if (r.MemoryLimitInBytes > 0)
            res.Memory = new LinuxMemory { Limit = r.MemoryLimitInBytes, Swap = r.MemorySwapLimitInBytes > 0 ? r.MemorySwapLimitInBytes : null };
        foreach (var h in r.HugepageLimits)
            (res.HugepageLimits ??= []).Add(new LinuxHugepageLimit { PageSize = h.PageSize, Limit = h.Limit });
        if (r.Unified.Count > 0) res.Unified = new Dictionary<string, string>(r.Unified);
        return res;
    }

    /// <summary>UpdateContainerResources: the limits alone (device rules stay as created).</summary>
    public static LinuxResources ResourcesForUpdate(LinuxContainerResources r)
    {
        var res = Resources(r, privileged: false);
        res.Devices = null;
        return res;
    }

    /// <summary>A pod cgroup's limits: the pod's resources plus its overhead (RuntimeClass), as the kubelet sizes them.</summary>
    public static LinuxResources PodResources(LinuxContainerResources r, LinuxContainerResources? overhead)
    {
        var res = ResourcesForUpdate(r);
        if (overhead is null) return res;
        if (res.Memory?.Limit > 0 && overhead.MemoryLimitInBytes > 0) res.Memory.Limit += overhead.MemoryLimitInBytes;
        if (res.Cpu is { Quota: > 0 } && overhead.CpuQuota > 0) res.Cpu.Quota += overhead.CpuQuota;
        if (res.Cpu is { Shares: > 0 } && overhead.CpuShares > 0) res.Cpu.Shares += (ulong)overhead.CpuShares;
        return res;
    }

    /// <summary>
    /// containerd's restrict_oom_score_adj: a container cannot ask for a lower score than csrund has, because
    /// lowering it needs CAP_SYS_RESOURCE, which this host's bounding set lacks (the kubelet asks -998 for
    /// sandboxes and negative values for guaranteed pods).
    /// </summary>
    public static int RestrictOomScoreAdj(long wanted)
    {
        int own = 0;
        try { own = int.Parse(File.ReadAllText("/proc/self/oom_score_adj").Trim()); }
        catch (IOException) { }
        return (int)Math.Clamp(Math.Max(wanted, own), -1000, 1000);
    }

    private static List<LinuxDevice>? Devices(ContainerConfig config, bool privileged, LinuxResources res)
    {
        var devices = new List<LinuxDevice>();
        if (privileged)
        {
            foreach (string path in HostDevices())
                if (DeviceOf(path, path, "rwm") is { } d) devices.Add(d.Device);
        }
        for (int i = 0; i < config.Devices.Count; i++)
        {
            var req = config.Devices[i];
            string field = $"devices[{i}]";
            if (!req.ContainerPath.StartsWith('/')) throw CriErrors.InvalidArgument($"{field}.container_path", $"\"{req.ContainerPath}\" must be absolute");
            string access = string.IsNullOrEmpty(req.Permissions) ? "rwm" : req.Permissions;
            if (access.Any(ch => ch is not ('r' or 'w' or 'm')))
                throw CriErrors.InvalidArgument($"{field}.permissions", $"\"{req.Permissions}\" must be made of r, w and m");
            var found = DeviceOf(req.HostPath, req.ContainerPath, access)
                ?? throw CriErrors.InvalidArgument($"{field}.host_path", $"\"{req.HostPath}\" is not a character or block device");
            devices.RemoveAll(d => d.Path == req.ContainerPath);
            devices.Add(found.Device);
            res.Devices!.Add(new LinuxDeviceCgroup { Allow = true, Type = found.Device.Type, Major = found.Device.Major, Minor = found.Device.Minor, Access = access });
        }
        return devices.Count > 0 ? devices : null;
    }

    private static (LinuxDevice Device, string Access)? DeviceOf(string hostPath, string containerPath, string access)
    {
        if (!hostPath.StartsWith('/') || Files.StatPath(hostPath, out var st, followSymlinks: true) != 0) return null;
        uint type = st.Mode & 0xF000;
        if (type is not (0x2000 or 0x6000)) return null;
        return (new LinuxDevice
        {
            Path = containerPath, Type = type == 0x2000 ? "c" : "b",
            Major = Files.Major(st.Rdev), Minor = Files.Minor(st.Rdev),
            FileMode = st.Mode & 0xFFF, Uid = st.Uid, Gid = st.Gid,
        }, access);
    }

    private static IEnumerable<string> HostDevices()
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true };
        foreach (string path in Directory.EnumerateFileSystemEntries("/dev", "*", options))
        {
            if (path.StartsWith("/dev/pts/", StringComparison.Ordinal) || path.StartsWith("/dev/shm/", StringComparison.Ordinal)
                || path.StartsWith("/dev/mqueue/", StringComparison.Ordinal) || path is "/dev/console" or "/dev/ptmx")
                continue;
            yield return path;
        }
    }

    private static List<OciMount> Mounts(List<OciMount> defaults, PodRecord pod, ContainerConfig config, string podDir, bool privileged, bool readonlyRoot)
    {
        var mounts = new List<OciMount>(defaults);
        if (privileged)
        {
            // A privileged container sees /sys read-write, as under docker --privileged.
            foreach (var m in mounts)
                if (m.Destination is "/sys" or "/sys/fs/cgroup") m.Options?.Remove("ro");
        }
        string etcMode = readonlyRoot ? "ro" : "rw";
        var podFiles = new List<OciMount>
        {
            new() { Destination = "/etc/hosts", Type = "bind", Source = Path.Combine(podDir, "hosts"), Options = ["rbind", "rprivate", etcMode] },
            new() { Destination = "/etc/resolv.conf", Type = "bind", Source = Path.Combine(podDir, "resolv.conf"), Options = ["rbind", "rprivate", etcMode] },
        };
        if (pod.UtsPath is not null)
            podFiles.Add(new OciMount { Destination = "/etc/hostname", Type = "bind", Source = Path.Combine(podDir, "hostname"), Options = ["rbind", "rprivate", etcMode] });
        string shm = pod.IpcPath is null ? "/dev/shm" : Path.Combine(podDir, "shm");
        mounts.RemoveAll(m => m.Destination == "/dev/shm");
        podFiles.Add(new OciMount { Destination = "/dev/shm", Type = "bind", Source = shm, Options = ["rbind", "rprivate", "rw"] });

        var requested = new List<OciMount>();
        for (int i = 0; i < config.Mounts.Count; i++)
        {
            var m = config.Mounts[i];
            string field = $"mounts[{i}]";
            if (!m.ContainerPath.StartsWith('/')) throw CriErrors.InvalidArgument($"{field}.container_path", $"\"{m.ContainerPath}\" must be absolute");
            if (!m.HostPath.StartsWith('/')) throw CriErrors.InvalidArgument($"{field}.host_path", $"\"{m.HostPath}\" must be absolute");
            // containerd makes a missing host directory, as the kubelet's hostPath DirectoryOrCreate relies on.
            if (!File.Exists(m.HostPath) && !Directory.Exists(m.HostPath)) Directory.CreateDirectory(m.HostPath);
            string propagation = m.Propagation switch
            {
                MountPropagation.PropagationHostToContainer => "rslave",
                MountPropagation.PropagationBidirectional => "rshared",
                _ => "rprivate",
            };
            requested.Add(new OciMount { Destination = m.ContainerPath, Type = "bind", Source = m.HostPath, Options = ["rbind", propagation, m.Readonly ? "ro" : "rw"] });
        }
        // What the request mounts replaces the default or pod mount at the same place.
        mounts.RemoveAll(d => requested.Exists(r => Same(r.Destination, d.Destination)));
        podFiles.RemoveAll(d => requested.Exists(r => Same(r.Destination, d.Destination)));
        mounts.AddRange(podFiles);
        mounts.AddRange(requested);
        return mounts;
    }

    private static bool Same(string a, string b) => a.TrimEnd('/') == b.TrimEnd('/');
}
