using System.Text.Json;
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
        using var arena = new NativeArena();
        for (int i = 0; i < hooks.Count; i++)
        {
            var h = arena.Alloc<CsrHook>();
            PlanBuilder.Hook(arena, hooks[i], h);
            CsrError err;
            fixed (byte* p = json)
            {
                if (NativeMethods.RunHook(h, p, (nuint)json.Length, &err) != 0)
                    throw new ContainerException($"{kind} hook #{i}: {Describe(err)}");
            }
        }
    }

    /// <summary>For poststart and poststop: a failing hook is logged and the rest still run (runtime-spec).</summary>
    public static void RunAll(List<Hook>? hooks, string kind, ContainerState state)
    {
        if (hooks is null) return;
        for (int i = 0; i < hooks.Count; i++)
        {
            try
            {
                Run([hooks[i]], kind, state);
            }
            catch (ContainerException e)
            {
                Log.Warn(e.Message.Replace("hook #0", $"hook #{i}"));
            }
        }
    }

    public static string Describe(in CsrError err) =>
        err.Err == 0 ? err.StepText : $"{err.StepText}: {Linux.Errno.Describe(err.Err)}";
}
