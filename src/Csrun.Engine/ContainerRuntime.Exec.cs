using System.Runtime.InteropServices;
using System.Text;
using Csrun.Cgroups;
using Csrun.Engine.Native;
using Csrun.Engine.Specs;
using Csrun.Engine.State;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Engine;

// exec: a new process in the namespaces and the cgroup of a running container.
public sealed partial class ContainerRuntime
{

    private static readonly Dictionary<string, string> NsProcNames = new(StringComparer.Ordinal)
    {
        ["pid"] = "pid", ["network"] = "net", ["mount"] = "mnt", ["ipc"] = "ipc", ["uts"] = "uts", ["cgroup"] = "cgroup", ["user"] = "user",
    };

    /// <summary>
    /// `exec`: a new process in every namespace and the cgroup of a running container, with the container's
    /// process settings as the base (env, cwd, user, capabilities, no_new_privs) and <paramref name="edit"/>
    /// applied on top. Returns the process's exit code (0 right away with <paramref name="detach"/>).
    /// </summary>
    public unsafe int Exec(string id, Func<Oci.Process, Oci.Process> edit, bool detach, string? pidFile, string? consoleSocket = null)
    {
        Oci.Spec spec;
        ContainerRecord r;
        using (var dir = _store.Open(id, exclusive: false))
        {
            r = dir.Record;
            string status = StatusOf(dir);
            if (status is not (ContainerStatus.Running or ContainerStatus.Created))
                throw new ContainerException($"cannot exec in a container that is {status}: {id}");
            spec = SpecLoader.Load(r.Bundle);
            spec.Process = edit(spec.Process ?? new Oci.Process());
            if (spec.Process.Args is null || spec.Process.Args.Count == 0) throw new ContainerException("exec: no command given");
            if (spec.Process.Terminal && consoleSocket is null)
                throw new ContainerException("exec: a terminal needs --console-socket (a foreground terminal is not supported by this version of csrun)");
            // The container's own namespaces, whatever the spec said (new or joined), reached through its init.
            var joined = new List<LinuxNamespace>();
            foreach (var ns in spec.Linux?.Namespaces ?? [])
            {
                if (NsProcNames.TryGetValue(ns.Type, out string? proc))
                    joined.Add(new LinuxNamespace { Type = ns.Type, Path = $"/proc/{r.Pid}/ns/{proc}" });
            }
            spec.Linux ??= new Oci.Linux();
            spec.Linux.Namespaces = joined;
        }
        if (!detach) Libc.Prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

        using var cgroup = CgroupOf(r);
        var child = new CsrChild { Pid = -1, SyncFd = -1, PidFd = -1 };
        bool spawned = false;
        try
        {
            var state = new ContainerState { Id = id, Status = ContainerStatus.Running, Pid = r.Pid, Bundle = r.Bundle, Annotations = r.Annotations };
            byte[] json = HookRunner.StateJson(state);
            using var arena = new NativeArena();
            using var console = spec.Process.Terminal ? FdChannel.Connect(consoleSocket!, "--console-socket") : null;
            var opts = new LaunchOptions(id, null, false, 0, cgroup?.CloneIntoCgroupFd ?? -1, NewKeyring: false, Exec: true, ConsoleFd: console?.Fd ?? -1);
            CsrPlan* plan = PlanBuilder.Build(arena, spec, r.Bundle, "/", opts, json.Length + 4096);
            CsrError err;
            if (NativeMethods.Spawn(plan, &child, &err) != 0) throw Fail(err);
            spawned = true;
            cgroup?.Apply(child.Pid);
            Resume(&child, NativeMethods.PhaseMounts, json);
            Resume(&child, NativeMethods.PhaseFinish, json);
            if (pidFile is not null) WritePidFile(pidFile, child.Pid);
            NativeMethods.Release(&child);
            spawned = false;
        }
        catch
        {
            if (spawned) NativeMethods.Abort(&child);
            throw;
        }
        if (detach) return 0;
        using (SignalForwarder.Forward(child.Pid)) return WaitExit(child.Pid);
    }
}
