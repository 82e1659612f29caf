using Csrun.Engine.Specs;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine.Native;

/// <summary>Per-invocation choices that are not in config.json.</summary>
internal sealed record LaunchOptions(string Id, string? ExecFifo, bool NoPivot, int PreserveFds, int CgroupFd, bool NewKeyring, bool Exec = false, int ConsoleFd = -1, int ListenerFd = -1, StdioFds? Stdio = null,
    IReadOnlyList<Csrun.Cgroups.CgroupJoinFile>? CgroupJoin = null, bool CgroupJoinLate = false);

/// <summary>
/// Flattens a validated spec into the C helper's plan. Everything the child needs is computed here, in
/// managed code, so the child only executes: it never parses, allocates or decides.
/// </summary>
internal static unsafe class PlanBuilder
{
    private const uint S_IFIFO = 0x1000, S_IFCHR = 0x2000, S_IFBLK = 0x6000;

    // The devices every container gets, as runc creates them (path, major, minor).
    private static readonly (string Path, uint Major, uint Minor)[] DefaultDevices =
    [
        ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
    ];

    public static CsrPlan* Build(NativeArena a, Oci.Spec spec, string bundle, string rootfs, LaunchOptions o, int stateCapacity)
    {
        var plan = a.Alloc<CsrPlan>();
        plan->AbiVersion = NativeMethods.AbiVersion;
        var linux = spec.Linux;
        var process = spec.Process!;

        var nss = linux?.Namespaces ?? [];
        plan->NNamespaces = nss.Count;
        plan->Namespaces = a.Alloc<CsrNamespace>(nss.Count);
        for (int i = 0; i < nss.Count; i++)
        {
            plan->Namespaces[i].Type = SpecValidator.NamespaceTypes[nss[i].Type];
            plan->Namespaces[i].Path = string.IsNullOrEmpty(nss[i].Path) ? null : a.Str(nss[i].Path);
            plan->Namespaces[i].Fd = -1; // PreparedNamespaces.ApplyTo, right before the spawn
        }
        plan->CgroupFd = o.CgroupFd;
        var join = o.CgroupJoin ?? [];
        plan->NCgroupJoinFds = join.Count;
        plan->CgroupJoinFds = a.Alloc<int>(join.Count);
        var joinPaths = new string[join.Count];
        for (int i = 0; i < join.Count; i++)
        {
            plan->CgroupJoinFds[i] = join[i].Fd;
            joinPaths[i] = join[i].Path;
        }
        plan->CgroupJoinPaths = a.StrArray(joinPaths);
        plan->CgroupJoinLate = o.CgroupJoinLate ? 1 : 0;
        // What a "cgroup" mount mirrors; none when the host has no cgroup filesystem at all.
        var cgroupMounts = o.Exec ? [] : HostCgroupMounts();
        plan->NCgroupMounts = cgroupMounts.Count;
        plan->CgroupMounts = a.Alloc<CsrCgroupMount>(cgroupMounts.Count);
        for (int i = 0; i < cgroupMounts.Count; i++)
        {
            var m = cgroupMounts[i];
            plan->CgroupMounts[i] = new CsrCgroupMount { Options = a.Str(m.SuperOptions), Root = a.Str(m.Root), MountPoint = a.Str(m.MountPoint) };
        }

        plan->Rootfs = a.Str(rootfs);
        MountOptions.TryParsePropagation(linux?.RootfsPropagation, out ulong rootProp);
        plan->RootfsPropagation = rootProp;
        plan->RootfsReadonly = spec.Root!.Readonly ? 1 : 0;
        plan->NoPivot = o.NoPivot ? 1 : 0;

        // exec joins a container that is set up already: only the process part of the plan applies.
        plan->ExecMode = o.Exec ? 1 : 0;
        var mounts = o.Exec ? [] : spec.Mounts ?? [];
        plan->NMounts = mounts.Count;
        plan->Mounts = a.Alloc<CsrMount>(mounts.Count);
        bool devIsBind = false;
        for (int i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            MountOptions.TryParse(m.Type, m.Options, out var pm, out _);
            var cm = &plan->Mounts[i];
            string? source = m.Source;
            if (pm.IsBind && source is not null && !source.StartsWith('/')) source = Path.Combine(bundle, source);
            cm->Source = a.Str(source);
            cm->Destination = a.Str(m.Destination);
            cm->FsType = pm.IsBind ? null : a.Str(m.Type);
            cm->Data = a.Str(pm.Data);
            cm->Flags = pm.Flags;
            cm->Propagation = pm.Propagation;
            cm->ClearFlags = pm.ClearFlags;
            cm->RecAttrSet = pm.RecAttrSet;
            cm->RecAttrClr = pm.RecAttrClr;
            cm->CopyUp = pm.CopyUp ? 1u : 0u;
            if (m.Destination == "/dev" && pm.IsBind) devIsBind = true;
        }

        // With the host's /dev bound in there is nothing to create (runc skips device setup too).
        var devices = new List<(string Path, uint Mode, uint Major, uint Minor, uint Uid, uint Gid)>();
        if (!devIsBind && !o.Exec)
        {
            var specDevices = linux?.Devices ?? [];
            foreach (var (path, major, minor) in DefaultDevices)
            {
                if (!specDevices.Exists(d => d.Path == path)) devices.Add((path, S_IFCHR | 0x1B6 /* 0666 */, major, minor, 0, 0));
            }
            foreach (var d in specDevices)
            {
                uint type = d.Type switch { "b" => S_IFBLK, "p" => S_IFIFO, _ => S_IFCHR };
                devices.Add((d.Path, type | ((d.FileMode ?? 0x1B6 /* 0666 */) & 0xFFF), (uint)d.Major, (uint)d.Minor, d.Uid ?? 0, d.Gid ?? 0));
            }
        }
        plan->NDevices = devices.Count;
        plan->Devices = a.Alloc<CsrDevice>(devices.Count);
        for (int i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            plan->Devices[i] = new CsrDevice { Path = a.Str(d.Path), Mode = d.Mode, Major = d.Major, Minor = d.Minor, Uid = d.Uid, Gid = d.Gid };
        }

        var masked = o.Exec ? null : linux?.MaskedPaths;
        var readonlyPaths = o.Exec ? null : linux?.ReadonlyPaths;
        plan->NMaskedPaths = masked?.Count ?? 0;
        plan->MaskedPaths = a.StrArray(masked);
        plan->NReadonlyPaths = readonlyPaths?.Count ?? 0;
        plan->ReadonlyPaths = a.StrArray(readonlyPaths);

        var sysctl = o.Exec ? null : linux?.Sysctl;
        plan->NSysctls = sysctl?.Count ?? 0;
        plan->Sysctls = a.Alloc<CsrSysctl>(plan->NSysctls);
        if (sysctl is not null)
        {
            int i = 0;
            foreach (var (k, v) in sysctl) plan->Sysctls[i++] = new CsrSysctl { Key = a.Str(k), Value = a.Str(v) };
        }

        plan->Hostname = o.Exec || string.IsNullOrEmpty(spec.Hostname) ? null : a.Str(spec.Hostname);
        plan->Domainname = o.Exec || string.IsNullOrEmpty(spec.Domainname) ? null : a.Str(spec.Domainname);

        plan->Argv = a.StrArray(process.Args);
        plan->Envp = a.StrArray(process.Env);
        plan->Cwd = a.Str(process.Cwd);
        plan->Uid = process.User.Uid;
        plan->Gid = process.User.Gid;
        var gids = process.User.AdditionalGids ?? [];
        plan->NAdditionalGids = gids.Count;
        plan->AdditionalGids = a.Alloc<uint>(gids.Count);
        for (int i = 0; i < gids.Count; i++) plan->AdditionalGids[i] = gids[i];
        // runc's default when the spec says nothing.
        plan->Umask = (int)(process.User.Umask ?? 0x12 /* 022 */);

        var rl = process.Rlimits ?? [];
        plan->NRlimits = rl.Count;
        plan->Rlimits = a.Alloc<CsrRlimit>(rl.Count);
        for (int i = 0; i < rl.Count; i++)
        {
            plan->Rlimits[i] = new CsrRlimit { Resource = Rlimits.Parse(rl[i].Type), Soft = rl[i].Soft, Hard = rl[i].Hard };
        }
        if (process.OomScoreAdj is int oom)
        {
            plan->SetOomScoreAdj = 1;
            plan->OomScoreAdj = OomScore.Effective(oom);
        }
        if (process.Capabilities is { } caps)
        {
            plan->SetCaps = 1;
            plan->CapLastCap = Capabilities.LastCap;
            plan->CapBounding = Capabilities.Mask(caps.Bounding);
            plan->CapEffective = Capabilities.Mask(caps.Effective);
            plan->CapPermitted = Capabilities.Mask(caps.Permitted);
            plan->CapInheritable = Capabilities.Mask(caps.Inheritable);
            plan->CapAmbient = Capabilities.Mask(caps.Ambient);
        }
        plan->NoNewPrivs = process.NoNewPrivileges ? 1 : 0;
        if (linux?.Seccomp is { } seccomp)
        {
            var (program, flags) = Security.SeccompCompiler.Compile(seccomp);
            byte* bpf = (byte*)a.Alloc(program.Length);
            program.CopyTo(new Span<byte>(bpf, program.Length));
            plan->SeccompBpf = bpf;
            plan->SeccompLen = (uint)(program.Length / 8); // sizeof(struct sock_filter)
            plan->SeccompFlags = flags;
        }
        plan->Personality = linux?.Personality?.Domain switch { "LINUX" => 0, "LINUX32" => 8, _ => -1 };
        plan->ConsoleSocketFd = process.Terminal ? o.ConsoleFd : -1;
        plan->SeccompListenerFd = o.ListenerFd;
        var stdio = o.Stdio ?? StdioFds.Inherit;
        plan->StdioFds[0] = stdio.In;
        plan->StdioFds[1] = stdio.Out;
        plan->StdioFds[2] = stdio.Err;
        plan->ConsoleRows = (ushort)Math.Min(process.ConsoleSize?.Height ?? 0, ushort.MaxValue);
        plan->ConsoleCols = (ushort)Math.Min(process.ConsoleSize?.Width ?? 0, ushort.MaxValue);
        plan->PreserveFds = o.PreserveFds;
        plan->ExecFifo = a.Str(o.ExecFifo);

        var hooks = o.Exec ? null : spec.Hooks;
        plan->NCreateContainerHooks = hooks?.CreateContainer?.Count ?? 0;
        plan->CreateContainerHooks = Hooks(a, hooks?.CreateContainer);
        plan->NStartContainerHooks = hooks?.StartContainer?.Count ?? 0;
        plan->StartContainerHooks = Hooks(a, hooks?.StartContainer);

        plan->SessionKeyring = o.NewKeyring ? a.Str("_ses." + o.Id) : null;
        plan->StateBufCap = (ulong)stateCapacity;
        plan->StateBuf = (byte*)a.Alloc(stateCapacity, 1);
        return plan;
    }

    private static IReadOnlyList<Csrun.Cgroups.CgroupMount> HostCgroupMounts()
    {
        try
        {
            return Csrun.Cgroups.CgroupLayout.Host.Mounts;
        }
        catch (Csrun.Cgroups.CgroupException)
        {
            return [];
        }
    }

    public static CsrHook* Hooks(NativeArena a, List<Hook>? hooks)
    {
        int n = hooks?.Count ?? 0;
        var arr = a.Alloc<CsrHook>(n);
        for (int i = 0; i < n; i++) Hook(a, hooks![i], &arr[i]);
        return arr;
    }

    public static void Hook(NativeArena a, Hook h, CsrHook* dst)
    {
        dst->Path = a.Str(h.Path);
        dst->Argv = h.Args is null ? null : a.StrArray(h.Args);
        dst->Envp = a.StrArray(h.Env);
        dst->Timeout = h.Timeout ?? 0;
    }
}

/// <summary>
/// oom_score_adj as containerd's restrict_oom_score_adj: a process without CAP_SYS_RESOURCE cannot go below
/// its own score, so a lower request is raised to the runtime's own value instead of failing the container.
/// </summary>
internal static class OomScore
{
    private const int CapSysResource = 24;

    public static int Effective(int requested)
    {
        if (ProcInfo.HasCapability(CapSysResource)) return requested;
        int own = int.Parse(File.ReadAllText("/proc/self/oom_score_adj").Trim());
        if (requested >= own) return requested;
        Log.Debug($"oom_score_adj {requested} raised to {own}: no CAP_SYS_RESOURCE to go below the runtime's own score");
        return own;
    }
}
