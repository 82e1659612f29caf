using Csrun.Linux;

namespace Csrun.Engine;

/// <summary>Reads /proc/PID/stat to tell whether our container's init still runs (and is not a recycled pid).</summary>
public static class ProcInfo
{
    /// <summary>State letter and start time (clock ticks since boot); false when the process is gone.</summary>
    public static bool TryReadStat(int pid, out char state, out ulong startTime)
    {
        state = '\0';
        startTime = 0;
        if (pid <= 0) return false;
        Span<byte> buf = stackalloc byte[1024];
        int n;
        unsafe
        {
            using var fd = SafeFd.TryOpen($"/proc/{pid}/stat", Libc.O_RDONLY, out _);
            if (fd is null) return false;
            fixed (byte* p = buf) n = (int)Libc.Read(fd.Fd, p, buf.Length);
        }
        if (n <= 0) return false;
        var s = buf[..n];
        // comm may contain spaces and ')': the fields after it start at the last ')'.
        int close = s.LastIndexOf((byte)')');
        if (close < 0 || close + 2 >= n) return false;
        var rest = s[(close + 2)..];
        state = (char)rest[0];
        // rest[0] is field 3 (state); starttime is field 22.
        int field = 3;
        int i = 0;
        while (i < rest.Length && field < 22)
        {
            if (rest[i] == (byte)' ') field++;
            i++;
        }
        ulong v = 0;
        while (i < rest.Length && rest[i] is >= (byte)'0' and <= (byte)'9') v = v * 10 + (ulong)(rest[i++] - '0');
        startTime = v;
        return true;
    }

    /// <summary>Alive means: exists, is not a zombie, and started when we recorded.</summary>
    public static bool IsAlive(int pid, ulong expectedStartTime)
    {
        if (!TryReadStat(pid, out char state, out ulong start)) return false;
        if (state is 'Z' or 'X') return false;
        return expectedStartTime == 0 || start == expectedStartTime;
    }

    /// <summary>Effective capability check from /proc/self/status (CapEff), without libcap.</summary>
    public static bool HasCapability(int cap)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("CapEff:", StringComparison.Ordinal))
            {
                ulong eff = Convert.ToUInt64(line[7..].Trim(), 16);
                return (eff & (1UL << cap)) != 0;
            }
        }
        return false;
    }
}
