using System.Diagnostics;

namespace Csrun.Cri.Tests;

internal static class Sh
{
    /// <summary>Runs a program to completion: exit code and stdout+stderr.</summary>
    public static (int Exit, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + err.Result);
    }

    public static string Ok(string file, params string[] args)
    {
        (int exit, string output) = Run(file, args);
        Assert.True(exit == 0, $"{file} {string.Join(' ', args)} exited {exit}: {output}");
        return output;
    }

    /// <summary>A name unique to this run, short enough for an interface name (15 bytes).</summary>
    public static string UniqueName(string prefix) => prefix + Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant()[..8];
}

/// <summary>A directory deleted at the end of a test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir(string root = "/tmp") => Path = Directory.CreateDirectory(System.IO.Path.Combine(root, Sh.UniqueName("csrt-"))).FullName;

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
