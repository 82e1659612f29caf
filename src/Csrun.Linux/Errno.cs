using System.Runtime.InteropServices;

namespace Csrun.Linux;

/// <summary>A failed system call: what was being done and the errno the kernel returned.</summary>
public class ErrnoException : IOException
{
    public int Errno { get; }
    public string Operation { get; }

    public ErrnoException(string operation, int errno)
        : base($"{operation}: {Linux.Errno.Describe(errno)}", errno)
    {
        Errno = errno;
        Operation = operation;
    }
}

public static class Errno
{
    public static int Last => Marshal.GetLastPInvokeError();

    /// <summary>strerror text ("Operation not permitted"), as the kernel's callers print it.</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    public static int Check(int result, string operation) => result < 0 ? throw new ErrnoException(operation, Last) : result;

    public static long Check(long result, string operation) => result < 0 ? throw new ErrnoException(operation, Last) : result;

    public static nint Check(nint result, string operation) => result < 0 ? throw new ErrnoException(operation, Last) : result;
}
