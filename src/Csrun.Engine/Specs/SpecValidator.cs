using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine.Specs;

/// <summary>
/// Checks a spec before anything is created, so a bad config.json fails with the field named and leaves
/// nothing behind. Checks that need the kernel (does this mount type exist?) happen in the child instead.
/// </summary>
public static class SpecValidator
{
    public static readonly Dictionary<string, ulong> NamespaceTypes = new(StringComparer.Ordinal)
    {
        ["pid"] = CloneFlags.CLONE_NEWPID, ["network"] = CloneFlags.CLONE_NEWNET, ["mount"] = CloneFlags.CLONE_NEWNS,
        ["ipc"] = CloneFlags.CLONE_NEWIPC, ["uts"] = CloneFlags.CLONE_NEWUTS, ["user"] = CloneFlags.CLONE_NEWUSER,
        ["cgroup"] = CloneFlags.CLONE_NEWCGROUP, ["time"] = CloneFlags.CLONE_NEWTIME,
    };

    public static void Validate(Oci.Spec spec, string bundle, bool requireProcess = true)
    {
        var process = spec.Process;
        if (process is null)
        {
            if (requireProcess) Fail("process", "must be set");
        }
        else
        {
            if (process.Args is null || process.Args.Count == 0) Fail("process.args", "must not be empty");
            if (!process.Cwd.StartsWith('/')) Fail("process.cwd", $"\"{process.Cwd}\" must be an absolute path");
            if (process.Env is not null)
            {
                for (int i = 0; i < process.Env.Count; i++)
                {
                    if (!process.Env[i].Contains('=')) Fail($"process.env[{i}]", $"\"{process.Env[i]}\" is not of the form KEY=value");
                }
            }
            if (process.Rlimits is not null)
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                for (int i = 0; i < process.Rlimits.Count; i++)
                {
                    var r = process.Rlimits[i];
                    if (Rlimits.Parse(r.Type) < 0) Fail($"process.rlimits[{i}].type", $"unknown rlimit \"{r.Type}\"");
                    if (!seen.Add(r.Type)) Fail($"process.rlimits[{i}].type", $"rlimit \"{r.Type}\" is set twice");
                    if (r.Soft > r.Hard) Fail($"process.rlimits[{i}]", $"soft limit {r.Soft} is above hard limit {r.Hard}");
                }
            }
            // As runc: a label for a security module the host does not run is ignored, with a warning.
            if (!string.IsNullOrEmpty(process.ApparmorProfile) && !Directory.Exists("/sys/kernel/security/apparmor"))
                Log.Warn($"process.apparmorProfile \"{process.ApparmorProfile}\" ignored: AppArmor is not enabled on this host");
            if (!string.IsNullOrEmpty(process.SelinuxLabel) && !File.Exists("/sys/fs/selinux/enforce"))
                Log.Warn($"process.selinuxLabel \"{process.SelinuxLabel}\" ignored: SELinux is not enabled on this host");
            if (process.Capabilities is { } caps)
            {
                CheckCaps(caps.Bounding, "bounding");
                CheckCaps(caps.Effective, "effective");
                CheckCaps(caps.Permitted, "permitted");
                CheckCaps(caps.Inheritable, "inheritable");
                CheckCaps(caps.Ambient, "ambient");
            }
        }

        if (spec.Root is null || string.IsNullOrEmpty(spec.Root.Path)) Fail("root.path", "must be set");
        string rootfs = RootfsPath(spec, bundle);
        if (!Directory.Exists(rootfs)) Fail("root.path", $"rootfs \"{rootfs}\" does not exist");

        var linux = spec.Linux;
        var nsTypes = new HashSet<string>(StringComparer.Ordinal);
        if (linux?.Namespaces is { } namespaces)
        {
            for (int i = 0; i < namespaces.Count; i++)
            {
                var ns = namespaces[i];
                if (!NamespaceTypes.ContainsKey(ns.Type)) Fail($"linux.namespaces[{i}].type", $"unknown namespace type \"{ns.Type}\"");
                if (!nsTypes.Add(ns.Type)) Fail($"linux.namespaces[{i}].type", $"namespace \"{ns.Type}\" is listed twice");
                if (ns.Type is "time")
                    Fail($"linux.namespaces[{i}].type", "time namespaces are not supported by this version of csrun");
                if (ns.Path is { Length: > 0 } p)
                {
                    if (!p.StartsWith('/')) Fail($"linux.namespaces[{i}].path", $"\"{p}\" must be an absolute path");
                    if (!File.Exists(p)) Fail($"linux.namespaces[{i}].path", $"\"{p}\" does not exist");
                }
            }
        }
        bool newUts = linux?.Namespaces?.Exists(n => n.Type == "uts" && string.IsNullOrEmpty(n.Path)) == true;
        if (!string.IsNullOrEmpty(spec.Hostname) && !newUts) Fail("hostname", "cannot be set without a new uts namespace");
        if (!string.IsNullOrEmpty(spec.Domainname) && !newUts) Fail("domainname", "cannot be set without a new uts namespace");
        bool newUser = linux?.Namespaces?.Exists(n => n.Type == "user" && string.IsNullOrEmpty(n.Path)) == true;
        bool hasMappings = linux?.UidMappings is { Count: > 0 } || linux?.GidMappings is { Count: > 0 };
        if (newUser && (linux?.UidMappings is not { Count: > 0 } || linux?.GidMappings is not { Count: > 0 }))
            Fail("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings");
        if (hasMappings && !newUser) Fail("linux.uidMappings", "mappings are only allowed with a new user namespace");
        CheckMappings(linux?.UidMappings, "linux.uidMappings");
        CheckMappings(linux?.GidMappings, "linux.gidMappings");

        if (spec.Mounts is { } mounts)
        {
            for (int i = 0; i < mounts.Count; i++)
            {
                var m = mounts[i];
                string at = $"mounts[{i}]";
                if (string.IsNullOrEmpty(m.Destination)) Fail($"{at}.destination", "must be set");
                if (!m.Destination.StartsWith('/')) Fail($"{at}.destination", $"\"{m.Destination}\" must be an absolute path");
                if (HasDotDot(m.Destination)) Fail($"{at}.destination", $"\"{m.Destination}\" must not contain \"..\"");
                if (!MountOptions.TryParse(m.Type, m.Options, out var parsed, out string? err)) Fail($"{at}.options", err!);
                if (parsed.IsBind)
                {
                    if (string.IsNullOrEmpty(m.Source)) Fail($"{at}.source", "a bind mount needs a source");
                    string src = m.Source!.StartsWith('/') ? m.Source : Path.Combine(bundle, m.Source);
                    if (!Path.Exists(src)) Fail($"{at}.source", $"bind source \"{src}\" does not exist");
                }
                else if (string.IsNullOrEmpty(m.Type) || m.Type == "none")
                {
                    Fail($"{at}.type", $"mount of \"{m.Destination}\" has no type and is not a bind mount");
                }
                if (m.UidMappings is { Count: > 0 } || m.GidMappings is { Count: > 0 })
                    Fail($"{at}.uidMappings", "idmapped mounts are not supported by this version of csrun");
            }
        }

        if (linux is not null)
        {
            if (!MountOptions.TryParsePropagation(linux.RootfsPropagation, out _))
                Fail("linux.rootfsPropagation", $"unknown propagation \"{linux.RootfsPropagation}\"");
            if (linux.Devices is { } devices)
            {
                for (int i = 0; i < devices.Count; i++)
                {
                    var d = devices[i];
                    if (d.Type is not ("c" or "b" or "u" or "p")) Fail($"linux.devices[{i}].type", $"unknown device type \"{d.Type}\"");
                    if (!d.Path.StartsWith("/dev/", StringComparison.Ordinal) || HasDotDot(d.Path))
                        Fail($"linux.devices[{i}].path", $"\"{d.Path}\" must be a path under /dev");
                    if (d.Major < 0 || d.Minor < 0) Fail($"linux.devices[{i}]", "major and minor must not be negative");
                }
            }
            if (linux.Sysctl is { } sysctl)
            {
                foreach (var key in sysctl.Keys) Sysctls.Validate(key, nsTypes, linux.Namespaces);
            }
            if (linux.IntelRdt is not null && !Directory.Exists("/sys/fs/resctrl/info"))
                Fail("linux.intelRdt", "Intel RDT is not available on this host (no resctrl filesystem)");
            if (linux.Seccomp is not null) Security.SeccompCompiler.Validate(linux.Seccomp);
            if (linux.Personality is { } persona)
            {
                if (persona.Domain is not ("LINUX" or "LINUX32"))
                    Fail("linux.personality.domain", $"unknown domain \"{persona.Domain}\" (LINUX or LINUX32)");
                if (persona.Flags is { Count: > 0 })
                    Fail("linux.personality.flags", "no personality flags are defined by the runtime-spec");
            }
        }

        if (spec.Hooks is { } hooks)
        {
            CheckHooks(hooks.Prestart, "hooks.prestart");
            CheckHooks(hooks.CreateRuntime, "hooks.createRuntime");
            CheckHooks(hooks.CreateContainer, "hooks.createContainer");
            CheckHooks(hooks.StartContainer, "hooks.startContainer");
            CheckHooks(hooks.Poststart, "hooks.poststart");
            CheckHooks(hooks.Poststop, "hooks.poststop");
        }
    }

    private static void CheckMappings(List<LinuxIdMapping>? maps, string field)
    {
        for (int i = 0; i < (maps?.Count ?? 0); i++)
        {
            if (maps![i].Size == 0) Fail($"{field}[{i}].size", "must be greater than zero");
        }
    }

    private static void CheckCaps(List<string>? names, string set)
    {
        if (names is null) return;
        for (int i = 0; i < names.Count; i++)
        {
            if (Capabilities.Parse(names[i]) < 0) Fail($"process.capabilities.{set}[{i}]", $"unknown capability \"{names[i]}\"");
        }
    }

    public static string RootfsPath(Oci.Spec spec, string bundle)
    {
        string p = spec.Root!.Path;
        return Path.GetFullPath(p.StartsWith('/') ? p : Path.Combine(bundle, p));
    }

    private static void CheckHooks(List<Hook>? hooks, string field)
    {
        if (hooks is null) return;
        for (int i = 0; i < hooks.Count; i++)
        {
            var h = hooks[i];
            if (!h.Path.StartsWith('/')) Fail($"{field}[{i}].path", $"\"{h.Path}\" must be an absolute path");
            if (h.Timeout is <= 0) Fail($"{field}[{i}].timeout", "must be greater than zero");
        }
    }

    private static bool HasDotDot(string path)
    {
        foreach (var part in path.Split('/'))
        {
            if (part == "..") return true;
        }
        return false;
    }

    internal static void Fail(string field, string message) => throw new ContainerException($"config.json: {field}: {message}");
}

/// <summary>Which sysctls a container may set: only those scoped to a namespace it owns (as runc allows).</summary>
public static class Sysctls
{
    private static readonly string[] IpcKeys = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];

    public static void Validate(string key, HashSet<string> nsTypes, List<LinuxNamespace>? namespaces)
    {
        bool Owns(string type) => namespaces?.Exists(n => n.Type == type) == true;
        if (Array.IndexOf(IpcKeys, key) >= 0 || key.StartsWith("fs.mqueue.", StringComparison.Ordinal))
        {
            if (!Owns("ipc")) SpecValidator.Fail($"linux.sysctl[\"{key}\"]", "needs an ipc namespace");
            return;
        }
        if (key.StartsWith("net.", StringComparison.Ordinal))
        {
            if (!Owns("network")) SpecValidator.Fail($"linux.sysctl[\"{key}\"]", "needs a network namespace");
            return;
        }
        if (key is "kernel.hostname" or "kernel.domainname")
        {
            SpecValidator.Fail($"linux.sysctl[\"{key}\"]", "set it with the hostname/domainname fields instead");
        }
        SpecValidator.Fail($"linux.sysctl[\"{key}\"]", "is not namespaced and cannot be set for a container");
    }
}
