using System.Diagnostics;
using Csrun.Cgroups;

namespace Csrun.Cgroups.Tests;

/// <summary>A manager for "/csrun/test-&lt;guid&gt;" that kills the processes it started and removes every
/// directory when disposed, whatever the test did.</summary>
internal sealed class TempCgroup : IDisposable
{
    private readonly List<Process> _processes = [];

    public string Path { get; } = "/csrun/test-" + Guid.NewGuid().ToString("N")[..16];
    public ICgroupManager Manager { get; }

    public TempCgroup(Func<string, ICgroupManager>? factory = null, bool create = true)
    {
        Manager = factory is null ? CgroupManager.Create(CgroupLayout.Host, Path) : factory(Path);
        try
        {
            if (create) Manager.Create();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public Process Start(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        _processes.Add(p);
        return p;
    }

    public void Dispose()
    {
        try { if (Manager.IsFrozen()) Manager.Thaw(); } catch (Exception) { }
        foreach (var p in _processes)
        {
            try
            {
                if (!p.HasExited) p.Kill();
                p.WaitForExit(2000);
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        try
        {
            Manager.Destroy();
        }
        finally
        {
            Manager.Dispose();
        }
    }
}
