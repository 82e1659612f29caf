using System.Runtime.InteropServices;

namespace Csrun.Engine.Native;

// Byte-for-byte mirrors of native/csrun_native.h. The AOT binary links the helper statically
// (DirectPInvoke); JIT hosts such as the tests load libcsrun_native.so from the app directory.

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CsrNamespace
{
    public ulong Type;
    public byte* Path;
    public int Fd;
    private readonly int _pad;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CsrMount
{
    public byte* Source;
    public byte* Destination;
    public byte* FsType;
    public byte* Data;
    public ulong Flags;
    public ulong Propagation;
    public ulong ClearFlags;
    public ulong RecAttrSet;
    public ulong RecAttrClr;
    public uint CopyUp;
    public uint Pad;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CsrDevice
{
    public byte* Path;
    public uint Mode;
    public uint Major;
    public uint Minor;
    public uint Uid;
    public uint Gid;
}

[StructLayout(LayoutKind.Sequential)]
internal struct CsrRlimit
{
    public int Resource;
    public int Pad;
    public ulong Soft;
    public ulong Hard;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CsrHook
{
    public byte* Path;
    public byte** Argv;
    public byte** Envp;
    public int Timeout;
    public int Pad;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CsrCgroupMount
{
    public byte* Options;
    public byte* Root;
    public byte* MountPoint;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CsrSysctl
{
    public byte* Key;
    public byte* Value;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CsrPlan
{
    public uint AbiVersion;
    public uint Pad0;

    public CsrNamespace* Namespaces;
    public int NNamespaces;
    public int CgroupFd;

    public byte* Rootfs;
    public ulong RootfsPropagation;
    public int RootfsReadonly;
    public int NoPivot;
    public CsrMount* Mounts;
    public int NMounts;
    public int NDevices;
    public CsrDevice* Devices;
    public byte** MaskedPaths;
    public int NMaskedPaths;
    public int NReadonlyPaths;
    public byte** ReadonlyPaths;
    public CsrSysctl* Sysctls;
    public int NSysctls;

    public int Pad1;
    public byte* Hostname;
    public byte* Domainname;

    public byte** Argv;
    public byte** Envp;
    public byte* Cwd;
    public uint Uid;
    public uint Gid;
    public uint* AdditionalGids;
    public int NAdditionalGids;
    public int Umask;
    public CsrRlimit* Rlimits;
    public int NRlimits;
    public int SetOomScoreAdj;
    public int OomScoreAdj;
    public int PreserveFds;

    public byte* ExecFifo;

    public CsrHook* CreateContainerHooks;
    public int NCreateContainerHooks;
    public int NStartContainerHooks;
    public CsrHook* StartContainerHooks;

    public byte* StateBuf;
    public ulong StateBufCap;

    public byte* SessionKeyring;

    public ulong CapBounding;
    public ulong CapEffective;
    public ulong CapPermitted;
    public ulong CapInheritable;
    public ulong CapAmbient;
    public int SetCaps;
    public int CapLastCap;
    public int NoNewPrivs;
    public int ExecMode;

    public byte* SeccompBpf;
    public uint SeccompLen;
    public uint SeccompFlags;

    public int ConsoleSocketFd;
    public ushort ConsoleRows;
    public ushort ConsoleCols;

    public int Personality;
    public int SeccompListenerFd;
    public fixed int StdioFds[3];

    public int NCgroupJoinFds;
    public int* CgroupJoinFds;
    public byte** CgroupJoinPaths;
    public int CgroupJoinLate;
    public int NCgroupMounts;
    public CsrCgroupMount* CgroupMounts;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CsrError
{
    public int Err;
    public fixed byte Step[512];

    public readonly string StepText
    {
        get
        {
            fixed (byte* p = Step) return Marshal.PtrToStringUTF8((nint)p) ?? "";
        }
    }
}

[StructLayout(LayoutKind.Sequential)]
internal struct CsrChild
{
    public int Pid;
    public int SyncFd;
    public int PidFd;
    public int Direct;
    public int InCgroup;
    public int Spawner;
    public int Relay;
    private readonly int _pad;
}

internal static unsafe partial class NativeMethods
{
    private const string Lib = "csrun_native";
    public const uint AbiVersion = 6;
    public const int PhaseMounts = 1, PhaseFinish = 2, PhaseAll = 3;

    [LibraryImport(Lib, EntryPoint = "csr_shared_alloc")]
    public static partial void* SharedAlloc(ulong size);

    [LibraryImport(Lib, EntryPoint = "csr_spawn")]
    public static partial int Spawn(CsrPlan* plan, CsrChild* child, CsrError* error);

    [LibraryImport(Lib, EntryPoint = "csr_spawn_begin")]
    public static partial int SpawnBegin(CsrPlan* plan, CsrChild* child, CsrError* error);

    [LibraryImport(Lib, EntryPoint = "csr_spawn_end")]
    public static partial int SpawnEnd(CsrChild* child, CsrError* error);

    [LibraryImport(Lib, EntryPoint = "csr_spawner_ready")]
    public static partial int SpawnerReady();

    [LibraryImport(Lib, EntryPoint = "csr_startup_mountinfo")]
    public static partial int StartupMountinfo(byte** text, nuint* len);

    [LibraryImport(Lib, EntryPoint = "csr_defer_teardown")]
    public static partial int DeferTeardown();

    [LibraryImport(Lib, EntryPoint = "csr_nsprep_claim")]
    public static partial nint NsPrepClaim(ulong types, out int fromStartup);

    [LibraryImport(Lib, EntryPoint = "csr_nsprep_fd")]
    public static partial int NsPrepFd(nint prep, ulong type);

    [LibraryImport(Lib, EntryPoint = "csr_nsprep_free")]
    public static partial void NsPrepFree(nint prep);

    [LibraryImport(Lib, EntryPoint = "csr_thread_start")]
    public static partial nint ThreadStart(delegate* unmanaged<nint, void> fn, nint arg);

    /// <summary>Returns the CPU the thread began on.</summary>
    [LibraryImport(Lib, EntryPoint = "csr_thread_join")]
    public static partial int ThreadJoin(nint thread);

    [LibraryImport(Lib, EntryPoint = "csr_spawn_monitored")]
    public static partial int SpawnMonitored(CsrPlan* plan, byte** monitorArgv, int* keepFds, int nKeep, CsrChild* child, int* monitorPid, CsrError* error);

    [LibraryImport(Lib, EntryPoint = "csr_child_resume_send")]
    public static partial int ResumeSend(CsrChild* child, int phase, byte* stateJson, nuint stateLen, CsrError* error);

    [LibraryImport(Lib, EntryPoint = "csr_child_resume_wait")]
    public static partial int ResumeWait(CsrChild* child, int phase, CsrError* error);

    [LibraryImport(Lib, EntryPoint = "csr_child_release")]
    public static partial void Release(CsrChild* child);

    [LibraryImport(Lib, EntryPoint = "csr_child_abort")]
    public static partial void Abort(CsrChild* child);

    [LibraryImport(Lib, EntryPoint = "csr_run_hook")]
    public static partial int RunHook(CsrHook* hook, byte* stateJson, nuint stateLen, CsrError* error);

    [LibraryImport(Lib, EntryPoint = "csr_forward_signals")]
    public static partial int ForwardSignals(int* sigs, int n, CsrError* error);

    [LibraryImport(Lib, EntryPoint = "csr_forward_signals_to")]
    public static partial int ForwardSignalsTo(int pid, CsrError* error);

    [LibraryImport(Lib, EntryPoint = "csr_forward_signals_stop")]
    public static partial void StopForwardingSignals();
}
