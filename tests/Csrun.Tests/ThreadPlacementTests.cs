using System.Runtime.InteropServices;
using Csrun.Engine.Native;

namespace Csrun.Tests;

/// <summary>
/// The helper threads of a start (native/thread.c: the cgroup thread; nsprep.c's namespace thread) must
/// run beside their creator, not queue behind it: they start on another CPU of the creator's set, then
/// hold the creator's whole set again.
/// </summary>
public unsafe partial class ThreadPlacementTests
{
    private const int SetBytes = 128; // cpu_set_t

    private static byte[] s_probeSet = [];

    [LibraryImport("libc", EntryPoint = "sched_getcpu")]
    private static partial int GetCpu();

    [LibraryImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    private static partial int GetAffinity(int tid, nint size, byte* mask);

    /// <summary>This thread's CPU set, or null with the errno in the message when it cannot be read.</summary>
    private static byte[]? Affinity(out string error)
    {
        var set = new byte[SetBytes];
        error = "";
        fixed (byte* p = set)
        {
            if (GetAffinity(0, SetBytes, p) == 0) return set;
            error = $"sched_getaffinity: errno {Marshal.GetLastPInvokeError()}";
            return null;
        }
    }

    private static int Count(byte[] set) => set.Sum(b => System.Numerics.BitOperations.PopCount(b));

    private static string s_probeError = "";

    // Runs on the native thread: nothing may throw here, the test thread asserts on what it left.
    [UnmanagedCallersOnly]
    private static void Probe(nint _) => s_probeSet = Affinity(out s_probeError) ?? [];

    [Fact]
    public void Helper_thread_starts_on_another_cpu_then_takes_the_whole_set_back()
    {
        byte[] mine = Affinity(out string error) ?? throw new InvalidOperationException(error);
        Assert.True(Count(mine) >= 2, $"this test needs a CPU set of at least 2 CPUs; this thread has {Count(mine)}");

        // The creator's CPU is read around the start; a migration in between makes the reading unusable.
        for (int attempt = 0; ; attempt++)
        {
            s_probeSet = [];
            int before = GetCpu();
            nint thread = NativeMethods.ThreadStart(&Probe, 0);
            int after = GetCpu();
            Assert.True(thread != 0, "csr_thread_start failed");
            // Blocks at once: a thread queued on this CPU would begin here now.
            int began = NativeMethods.ThreadJoin(thread);
            if (before != after && attempt < 10) continue;

            Assert.NotEqual(-1, began);
            Assert.NotEqual(before, began);
            Assert.True(s_probeSet.Length > 0, $"the thread could not read its CPU set: {s_probeError}");
            Assert.Equal(mine, s_probeSet);
            return;
        }
    }
}
