namespace Csrun.Linux;

/// <summary>Signal names and numbers for x86_64/arm64 Linux, as `kill` accepts them (TERM, SIGTERM, 15).</summary>
public static class Signals
{
    private static readonly (string Name, int Number)[] Table =
    [
        ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("IOT", 6), ("BUS", 7), ("FPE", 8),
        ("KILL", 9), ("USR1", 10), ("SEGV", 11), ("USR2", 12), ("PIPE", 13), ("ALRM", 14), ("TERM", 15),
        ("STKFLT", 16), ("CHLD", 17), ("CONT", 18), ("STOP", 19), ("TSTP", 20), ("TTIN", 21), ("TTOU", 22),
        ("URG", 23), ("XCPU", 24), ("XFSZ", 25), ("VTALRM", 26), ("PROF", 27), ("WINCH", 28), ("IO", 29),
        ("POLL", 29), ("PWR", 30), ("SYS", 31),
    ];

    public const int SIGRTMIN = 34, SIGRTMAX = 64;
    public const int SIGKILL = 9, SIGTERM = 15, SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19;

    /// <summary>Parses "TERM", "SIGTERM", "sigterm", "15", "RTMIN+3".</summary>
    public static bool TryParse(string text, out int signal)
    {
        signal = 0;
        if (int.TryParse(text, out int n))
        {
            signal = n;
            return n is > 0 and <= SIGRTMAX;
        }
        string name = text.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        foreach (var (Name, Number) in Table)
        {
            if (Name == name) { signal = Number; return true; }
        }
        if (name.StartsWith("RTMIN", StringComparison.Ordinal))
        {
            int off = name.Length == 5 ? 0 : name[5] == '+' && int.TryParse(name[6..], out int o) ? o : -1;
            signal = SIGRTMIN + off;
            return off >= 0 && signal <= SIGRTMAX;
        }
        if (name.StartsWith("RTMAX", StringComparison.Ordinal))
        {
            int off = name.Length == 5 ? 0 : name[5] == '-' && int.TryParse(name[6..], out int o) ? o : -1;
            signal = SIGRTMAX - off;
            return off >= 0 && signal >= SIGRTMIN;
        }
        return false;
    }

    public static string Name(int signal)
    {
        foreach (var (Name, Number) in Table)
        {
            if (Number == signal) return "SIG" + Name;
        }
        return signal >= SIGRTMIN && signal <= SIGRTMAX ? $"SIGRTMIN+{signal - SIGRTMIN}" : signal.ToString();
    }
}
