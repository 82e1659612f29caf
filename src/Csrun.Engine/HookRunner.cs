using Csrun.Engine.Native;
using Csrun.Engine.State;
using Csrun.Oci;

namespace Csrun.Engine;

/// <summary>Runs the hooks that execute in the runtime's namespaces (prestart, createRuntime, poststart, poststop).</summary>
internal static unsafe class HookRunner
{
    public static byte[] StateJson(ContainerState state) => State.StateJson.Write(state);

    /// <summary>Runs every hook in order; the first failure throws, naming the hook kind.</summary>
    public static void Run(List<Hook>? hooks, string kind, ContainerState state)
    {
        if (hooks is null || hooks.Count == 0) return;
        byte[] json = StateJson(state);
        for (int i = 0; i < hooks.Count; i++)
        {
            if (RunOne(hooks[i], json) is { } failure) throw new ContainerException($"{kind} hook #{i}: {failure}");
        }
    }

    /// <summary>For poststart and poststop: a failing hook is logged and the rest still run (runtime-spec).</summary>
    public static void RunAll(List<Hook>? hooks, string kind, ContainerState state)
    {
        if (hooks is null || hooks.Count == 0) return;
        byte[] json = StateJson(state);
        for (int i = 0; i < hooks.Count; i++)
        {
            if (RunOne(hooks[i], json) is { } failure) Log.Warn($"{kind} hook #{i}: {failure}");
        }
    }

    /// <summary>Runs one hook with the state on stdin; null when it succeeded, else why it failed.</summary>
    private static string? RunOne(Hook hook, byte[] json)
    {
        using var arena = new NativeArena();
        var h = arena.Alloc<CsrHook>();
        PlanBuilder.Hook(arena, hook, h);
        CsrError err;
        fixed (byte* p = json)
        {
            return NativeMethods.RunHook(h, p, (nuint)json.Length, &err) == 0 ? null : Describe(err);
        }
    }

    public static string Describe(in CsrError err) =>
        err.Err == 0 ? err.StepText : $"{err.StepText}: {Linux.Errno.Describe(err.Err)}";
}
