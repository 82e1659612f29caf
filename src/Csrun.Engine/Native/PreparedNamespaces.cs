using Csrun.Engine.Specs;
using Csrun.Linux;

namespace Csrun.Engine.Native;

/// <summary>
/// The container's new network and ipc namespaces, made on a throwaway native thread while this one starts
/// .NET (csrun's executable) or makes the state directory and builds the plan (native/nsprep.c). Network
/// namespace creation is the costliest step of a start on a small host; here it overlaps with work the runtime
/// does anyway. When the thread could not make them, <see cref="Fd"/> is -1 and the clone creates them as before.
/// </summary>
internal sealed class PreparedNamespaces : IDisposable
{
    private const ulong Kinds = CloneFlags.CLONE_NEWNET | CloneFlags.CLONE_NEWIPC;
    private nint _prep;

    private PreparedNamespaces(nint prep) => _prep = prep;

    /// <summary>The spec's new network/ipc namespaces, from csrun's start-up (native/nsprep_early.c) when it
    /// made them, else from a thread started now; null when there are none, or when the spec has a user
    /// namespace (those must be owned by it, so the clone makes them). Namespaces the start-up made and the spec
    /// does not take are discarded here.</summary>
    public static PreparedNamespaces? Start(Oci.Spec spec)
    {
        // Every kind the spec wants new: the start-up's spawner is claimed only for exactly its own.
        ulong types = 0;
        var nss = spec.Linux?.Namespaces;
        if (nss is not null && !nss.Exists(n => n.Type == "user"))
            foreach (var n in nss)
                if (string.IsNullOrEmpty(n.Path) && SpecValidator.NamespaceTypes.TryGetValue(n.Type, out ulong t)) types |= t;
        nint prep = NativeMethods.NsPrepClaim(types, out int fromStartup);
        if (fromStartup != 0) PhaseTimer.Note("namespaces made at start-up");
        return prep == 0 ? null : new PreparedNamespaces(prep);
    }

    /// <summary>The prepared namespace of this CLONE_NEW* kind (waits for the thread), or -1.</summary>
    public int Fd(ulong type) => _prep == 0 || (type & Kinds) == 0 ? -1 : NativeMethods.NsPrepFd(_prep, type);

    /// <summary>Points the plan's new network/ipc namespaces at the prepared ones. Called as late as possible,
    /// right before the spawn: it waits for the thread.</summary>
    public unsafe void ApplyTo(CsrPlan* plan)
    {
        for (int i = 0; i < plan->NNamespaces; i++)
        {
            ref var ns = ref plan->Namespaces[i];
            if (ns.Path == null) ns.Fd = Fd(ns.Type);
        }
    }

    public void Dispose()
    {
        if (_prep == 0) return;
        NativeMethods.NsPrepFree(_prep);
        _prep = 0;
    }
}
