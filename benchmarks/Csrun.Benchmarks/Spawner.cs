using System.Collections;
using System.Runtime.InteropServices;
using System.Text;

namespace Csrun.Benchmarks;

/// <summary>How one child process ended.</summary>
/// <param name="ExitCode">exit status, or -1 when killed by a signal</param>
/// <param name="Signal">terminating signal, or 0</param>
/// <param name="MaxRssKiB">ru_maxrss from wait4(); polluted by the parent's address space, see <see cref="PeakRss"/></param>
public readonly record struct SpawnResult(int ExitCode, int Signal, long MaxRssKiB)
{
    public bool Success => ExitCode == 0 && Signal == 0;
    public override string ToString() => Signal != 0 ? $"killed by signal {Signal}" : $"exit status {ExitCode}";
}

/// <summary>
/// One command, marshalled once, that can be run and waited for with almost no work in between:
/// posix_spawn() then wait4().
/// <para>
/// Why not Process.Start: it costs more per start (pipes, a wait thread, SIGCHLD bookkeeping)
/// and, more importantly, .NET reaps its children itself, so the exact exit status and rusage
/// come through its machinery. A child started with posix_spawn() is unknown to .NET, whose
/// SIGCHLD handler only reaps the pids it started (it reaps everything only when SIGCHLD was
/// originally ignored, which it is not here), so our blocking wait4(pid) reliably gets it.
/// </para>
/// <para>
/// The child gets default dispositions for every signal and an empty signal mask (.NET ignores
/// SIGPIPE and an ignored disposition would survive exec), stdin and stdout on /dev/null and
/// stderr in a file, so that failures can be reported.
/// </para>
/// </summary>
public sealed unsafe class PreparedCommand : IDisposable
{
    private readonly List<IntPtr> _allocations = new();
    private readonly byte* _path;
    private readonly byte** _argv;
    private readonly byte** _envp;
    private readonly void* _fileActions;
    private readonly void* _attr;
    private readonly string _display;
    private readonly byte* _t0Digits; // the digits of CSRUN_T0=..., written just before each spawn
    private bool _disposed;

    private const int T0Width = 20;

    /// <param name="traceStart">run csrun with its phase trace (CSRUN_TRACE_PHASES=1) and CSRUN_T0 set to the
    /// monotonic clock in ns right before each posix_spawn(), so its first phase counts from the spawn.</param>
    public PreparedCommand(string path, IReadOnlyList<string> args, string stderrPath, bool traceStart = false)
    {
        _display = string.Join(' ', new[] { path }.Concat(args));
        _path = CString(path);

        _argv = (byte**)Alloc((args.Count + 2) * sizeof(IntPtr));
        _argv[0] = _path;
        for (int i = 0; i < args.Count; i++) _argv[i + 1] = CString(args[i]);
        _argv[args.Count + 1] = null;

        var env = new List<string>();
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (!traceStart || e.Key is not ("CSRUN_TRACE_PHASES" or "CSRUN_T0"))
                env.Add($"{e.Key}={e.Value}");
        if (traceStart)
        {
            env.Add("CSRUN_TRACE_PHASES=1");
            env.Add("CSRUN_T0=" + new string('0', T0Width));
        }
        _envp = (byte**)Alloc((env.Count + 1) * sizeof(IntPtr));
        for (int i = 0; i < env.Count; i++) _envp[i] = CString(env[i]);
        _envp[env.Count] = null;
        if (traceStart) _t0Digits = _envp[env.Count - 1] + "CSRUN_T0=".Length;

        _fileActions = Alloc(Native.FileActionsSize);
        Check(Native.posix_spawn_file_actions_init(_fileActions), "posix_spawn_file_actions_init");
        byte* devnull = CString("/dev/null");
        Check(Native.posix_spawn_file_actions_addopen(_fileActions, 0, devnull, Native.O_RDONLY, 0), "addopen stdin");
        Check(Native.posix_spawn_file_actions_addopen(_fileActions, 1, devnull, Native.O_WRONLY, 0), "addopen stdout");
        Check(Native.posix_spawn_file_actions_addopen(_fileActions, 2, CString(stderrPath),
            Native.O_WRONLY | Native.O_CREAT | Native.O_TRUNC, 0x1a4 /* 0644 */), "addopen stderr");

        _attr = Alloc(Native.SpawnAttrSize);
        Check(Native.posix_spawnattr_init(_attr), "posix_spawnattr_init");
        void* all = Alloc(Native.SigsetSize);
        void* none = Alloc(Native.SigsetSize);
        Native.sigfillset(all);
        Native.sigemptyset(none);
        Check(Native.posix_spawnattr_setsigdefault(_attr, all), "posix_spawnattr_setsigdefault");
        Check(Native.posix_spawnattr_setsigmask(_attr, none), "posix_spawnattr_setsigmask");
        Check(Native.posix_spawnattr_setflags(_attr, Native.POSIX_SPAWN_SETSIGDEF | Native.POSIX_SPAWN_SETSIGMASK), "posix_spawnattr_setflags");
    }

    public override string ToString() => _display;

    /// <summary>Starts the command and waits for it. This is what gets timed.</summary>
    public SpawnResult Run()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_t0Digits != null) StampT0();
        int rc = Native.posix_spawn(out int pid, _path, _fileActions, _attr, _argv, _envp);
        if (rc != 0) throw new InvalidOperationException($"posix_spawn {_display}: {Native.StrError(rc)}");
        while (true)
        {
            int r = Native.wait4(pid, out int status, 0, out Native.Rusage usage);
            if (r == pid)
            {
                int sig = status & 0x7f;
                return sig == 0
                    ? new SpawnResult((status >> 8) & 0xff, 0, usage.MaxRss)
                    : new SpawnResult(-1, sig, usage.MaxRss);
            }
            int errno = Marshal.GetLastPInvokeError();
            if (r == -1 && errno == Native.EINTR) continue;
            throw new InvalidOperationException($"wait4({pid}) for {_display}: {Native.StrError(errno)}");
        }
    }

    private void StampT0()
    {
        long ns = Csrun.Engine.PhaseTimer.MonotonicNs();
        var digits = new Span<byte>(_t0Digits, T0Width);
        if (!ns.TryFormat(digits, out int n, "D20", System.Globalization.CultureInfo.InvariantCulture) || n != T0Width)
            throw new InvalidOperationException($"CSRUN_T0 {ns} does not fit {T0Width} digits");
    }

    /// <summary>One timed `RUNTIME --root STATE run --bundle BUNDLE ID` (posix_spawn to wait4), then, untimed, a
    /// `delete -f` of whatever the run left in STATE.</summary>
    public static (SpawnResult Result, double Ms) TimeContainerRun(string runtime, string state, string bundle, string id, string stderrPath,
        bool traceStart = false)
    {
        SpawnResult result;
        double ms;
        using (var command = new PreparedCommand(runtime, ["--root", state, "run", "--bundle", bundle, id], stderrPath, traceStart))
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            result = command.Run();
            ms = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        if (Directory.Exists(Path.Combine(state, id)))
            RunOnce(runtime, ["--root", state, "delete", "-f", id], stderrPath + ".delete");
        return (result, ms);
    }

    /// <summary>Prepares, runs and frees in one call (for the untimed checks and cleanups).</summary>
    public static SpawnResult RunOnce(string path, IReadOnlyList<string> args, string stderrPath)
    {
        using var cmd = new PreparedCommand(path, args, stderrPath);
        return cmd.Run();
    }

    private byte* CString(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)Alloc(n + 1);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    private void* Alloc(int size)
    {
        IntPtr p = (IntPtr)NativeMemory.AllocZeroed((nuint)size);
        _allocations.Add(p);
        return (void*)p;
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw new InvalidOperationException($"{what}: {Native.StrError(rc)}");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Native.posix_spawn_file_actions_destroy(_fileActions);
        Native.posix_spawnattr_destroy(_attr);
        foreach (var p in _allocations) NativeMemory.Free((void*)p);
        _allocations.Clear();
    }
}
