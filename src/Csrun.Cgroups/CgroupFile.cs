using System.Globalization;
using System.Text;
using Csrun.Linux;

namespace Csrun.Cgroups;

/// <summary>Reads and writes cgroupfs control files. A value must reach the kernel in a single write(2)
/// (the file is parsed per write), so values are formatted into one buffer first.</summary>
internal static unsafe class CgroupFile
{
    /// <summary>Writes value to dir/file; throws CgroupException "field: write path: strerror".</summary>
    public static void Write(string dir, string file, ReadOnlySpan<byte> value, string field)
    {
        int errno = TryWrite(dir + "/" + file, value);
        if (errno != 0) throw WriteError(field, dir + "/" + file, errno);
    }

    public static void Write(string dir, string file, string value, string field)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        Span<byte> buf = max <= 512 ? stackalloc byte[max] : new byte[max];
        int n = Encoding.UTF8.GetBytes(value, buf);
        Write(dir, file, buf[..n], field);
    }

    public static void Write(string dir, string file, long value, string field)
    {
        Span<byte> buf = stackalloc byte[24];
        value.TryFormat(buf, out int n, default, CultureInfo.InvariantCulture);
        Write(dir, file, buf[..n], field);
    }

    public static void Write(string dir, string file, ulong value, string field)
    {
        Span<byte> buf = stackalloc byte[24];
        value.TryFormat(buf, out int n, default, CultureInfo.InvariantCulture);
        Write(dir, file, buf[..n], field);
    }

    /// <summary>Returns 0 or the errno of the failed open/write.</summary>
    public static int TryWrite(string path, ReadOnlySpan<byte> value)
    {
        int fd = Libc.Open(path, Libc.O_WRONLY | Libc.O_CLOEXEC | Libc.O_TRUNC, 0);
        if (fd < 0) return Errno.Last;
        try
        {
            return TryWrite(fd, value);
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>One value in one write(2) to an open control file (list files such as devices.allow take one
    /// entry per write, so one fd serves many). Returns 0 or the errno.</summary>
    public static int TryWrite(int fd, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
        {
            while (true)
            {
                nint w = Libc.Write(fd, p, value.Length);
                if (w >= 0) return 0;
                int errno = Errno.Last;
                if (errno != Libc.EINTR) return errno;
            }
        }
    }

    public static CgroupException WriteError(string field, string path, int errno) =>
        new($"{field}: write {path}: {Errno.Describe(errno)}", new ErrnoException($"write {path}", errno));

    /// <summary>Reads a whole control file, or returns null (with errno) when it cannot be opened.</summary>
    public static byte[]? TryReadBytes(string path, out int length, out int errno)
    {
        length = 0;
        int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0) { errno = Errno.Last; return null; }
        try
        {
            byte[] buf = new byte[4096];
            while (true)
            {
                if (length == buf.Length) Array.Resize(ref buf, buf.Length * 2);
                nint r;
                fixed (byte* p = &buf[length]) r = Libc.Read(fd, p, buf.Length - length);
                if (r < 0)
                {
                    errno = Errno.Last;
                    if (errno == Libc.EINTR) continue;
                    return null;
                }
                if (r == 0) { errno = 0; return buf; }
                length += (int)r;
            }
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    public static string? TryRead(string path)
    {
        byte[]? b = TryReadBytes(path, out int len, out _);
        return b is null ? null : Encoding.UTF8.GetString(b, 0, len);
    }

    public static string Read(string path, string field)
    {
        byte[]? b = TryReadBytes(path, out int len, out int errno);
        if (b is null) throw ReadError(field, path, errno);
        return Encoding.UTF8.GetString(b, 0, len);
    }

    public static CgroupException ReadError(string field, string path, int errno) =>
        new($"{field}: read {path}: {Errno.Describe(errno)}", new ErrnoException($"read {path}", errno));

    /// <summary>First whitespace-delimited token as a number; "max" reads as -1 (unlimited).</summary>
    public static long? TryReadLong(string path)
    {
        byte[]? b = TryReadBytes(path, out int len, out _);
        if (b is null) return null;
        ReadOnlySpan<byte> s = b.AsSpan(0, len).Trim(" \n\t"u8);
        int sp = s.IndexOfAny(" \n"u8);
        if (sp >= 0) s = s[..sp];
        if (s.SequenceEqual("max"u8)) return -1;
        return long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : null;
    }

    public static bool Exists(string path) => File.Exists(path);

    /// <summary>Appends pids from a cgroup.procs file; a missing file (cgroup removed meanwhile) adds nothing.</summary>
    public static void ReadPids(string path, List<int> into)
    {
        byte[]? b = TryReadBytes(path, out int len, out _);
        if (b is null) return;
        ReadOnlySpan<byte> s = b.AsSpan(0, len);
        while (!s.IsEmpty)
        {
            int nl = s.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = nl < 0 ? s : s[..nl];
            s = nl < 0 ? default : s[(nl + 1)..];
            if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) into.Add(pid);
        }
    }
}
