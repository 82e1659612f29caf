using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Csrun.Cgroups;
using Csrun.Engine.Native;
using Csrun.Oci;

namespace Csrun.Engine;

/// <summary>
/// A container's cgroups made and limited on a second thread while the child is cloned: both take long
/// enough on a small host (a mkdir in every v1 hierarchy; the clone of the runtime's address space) that
/// doing them side by side shortens every start. <see cref="ICgroupManager.CreateForClone"/> has made what
/// the clone itself needs already. The thread is a bare native one (native/thread.c): a managed
/// Thread.Start waits for the new thread to run, 0.6 ms on a 2-core host in the middle of a start.
/// </summary>
internal sealed unsafe class BackgroundCgroupSetup
{
    private readonly ICgroupManager _cgroup;
    private readonly LinuxResources _resources;
    private GCHandle _self;
    private nint _thread;
    private ExceptionDispatchInfo? _error;

    public BackgroundCgroupSetup(ICgroupManager cgroup, LinuxResources resources)
    {
        _cgroup = cgroup;
        _resources = resources;
        _self = GCHandle.Alloc(this);
        _thread = NativeMethods.ThreadStart(&Run, GCHandle.ToIntPtr(_self));
        if (_thread == 0) Work(); // no thread to be had: do it here
    }

    [UnmanagedCallersOnly]
    private static void Run(nint self) => ((BackgroundCgroupSetup)GCHandle.FromIntPtr(self).Target!).Work();

    // Nothing may escape into native code: the failure is kept for Wait.
    private void Work()
    {
        try
        {
            _cgroup.Create();
            _cgroup.Set(_resources);
        }
        catch (Exception e)
        {
            _error = ExceptionDispatchInfo.Capture(e);
        }
    }

    /// <summary>Waits for the setup and rethrows its failure.</summary>
    public void Wait()
    {
        Join();
        _error?.Throw();
    }

    /// <summary>Waits, whatever the outcome (before cleaning up after another failure).</summary>
    public void Join()
    {
        if (_thread != 0)
        {
            NativeMethods.ThreadJoin(_thread);
            _thread = 0;
        }
        if (_self.IsAllocated) _self.Free();
    }
}
