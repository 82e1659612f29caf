using System.Runtime.InteropServices;

namespace Csrun.Linux;

/// <summary>
/// libseccomp, used to compile a profile into classic BPF; the child installs it. The static csrun executable
/// links its archive in (Csrun.Cli.csproj); csrund loads Debian's libseccomp2 by this name on the first profile.
/// </summary>
public static unsafe partial class Seccomp
{
    private const string Lib = "libseccomp.so.2";

    public const uint ActKillProcess = 0x80000000, ActKillThread = 0x00000000, ActTrap = 0x00030000,
        ActErrnoBase = 0x00050000, ActTraceBase = 0x7ff00000, ActLog = 0x7ffc0000, ActAllow = 0x7fff0000,
        ActNotify = 0x7fc00000;

    public const int AttrCtlNnp = 3;

    [StructLayout(LayoutKind.Sequential)]
    public struct ArgCmp
    {
        public uint Arg;
        public int Op;
        public ulong DatumA;
        public ulong DatumB;
    }

    [LibraryImport(Lib, EntryPoint = "seccomp_init")]
    public static partial nint Init(uint defaultAction);

    [LibraryImport(Lib, EntryPoint = "seccomp_release")]
    public static partial void Release(nint ctx);

    [LibraryImport(Lib, EntryPoint = "seccomp_arch_resolve_name", StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint ArchResolveName(string name);

    [LibraryImport(Lib, EntryPoint = "seccomp_arch_add")]
    public static partial int ArchAdd(nint ctx, uint arch);

    [LibraryImport(Lib, EntryPoint = "seccomp_syscall_resolve_name", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SyscallResolveName(string name);

    [LibraryImport(Lib, EntryPoint = "seccomp_rule_add_array")]
    public static partial int RuleAddArray(nint ctx, uint action, int syscall, uint argCount, ArgCmp* args);

    [LibraryImport(Lib, EntryPoint = "seccomp_attr_set")]
    public static partial int AttrSet(nint ctx, int attr, uint value);

    [LibraryImport(Lib, EntryPoint = "seccomp_export_bpf")]
    public static partial int ExportBpf(nint ctx, int fd);

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(int fd, long offset, int whence);
}
