using System.Text.Json;

namespace Csrun.Oci;

// One reader per Spec.cs class. Each starts on the value's first token (StartObject or null) and ends on its last.
// A JSON null yields null even where the property is not annotated nullable: that is what STJ stores there.
// Pattern: Prop() matches the name, pushes it on the path and moves to the value; the branch reads the value;
// the loop pops the name. Unknown properties are skipped and never enter the path.
public static partial class SpecReader
{
    private static Spec ReadSpec(ref Utf8JsonReader r, ref PathBuilder p)
    {
        var x = new Spec();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "ociVersion"u8, "ociVersion")) x.OciVersion = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "process"u8, "process")) x.Process = ReadProcess(ref r, ref p);
            else if (Prop(ref r, ref p, "root"u8, "root")) x.Root = ReadRoot(ref r, ref p);
            else if (Prop(ref r, ref p, "hostname"u8, "hostname")) x.Hostname = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "domainname"u8, "domainname")) x.Domainname = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "mounts"u8, "mounts")) x.Mounts = List(ref r, ref p, ReadMount, "an array of mounts");
            else if (Prop(ref r, ref p, "hooks"u8, "hooks")) x.Hooks = ReadHooks(ref r, ref p);
            else if (Prop(ref r, ref p, "annotations"u8, "annotations")) x.Annotations = StrDict(ref r, ref p);
            else if (Prop(ref r, ref p, "linux"u8, "linux")) x.Linux = ReadLinux(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static Root ReadRoot(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new Root();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "path"u8, "path")) x.Path = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "readonly"u8, "readonly")) x.Readonly = Bool(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static Process ReadProcess(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new Process();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "terminal"u8, "terminal")) x.Terminal = Bool(ref r, ref p);
            else if (Prop(ref r, ref p, "consoleSize"u8, "consoleSize")) x.ConsoleSize = ReadBox(ref r, ref p);
            else if (Prop(ref r, ref p, "user"u8, "user")) x.User = ReadUser(ref r, ref p);
            else if (Prop(ref r, ref p, "args"u8, "args")) x.Args = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "commandLine"u8, "commandLine")) x.CommandLine = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "env"u8, "env")) x.Env = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "cwd"u8, "cwd")) x.Cwd = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "capabilities"u8, "capabilities")) x.Capabilities = ReadCapabilities(ref r, ref p);
            else if (Prop(ref r, ref p, "rlimits"u8, "rlimits")) x.Rlimits = List(ref r, ref p, ReadRlimit, "an array of rlimits");
            else if (Prop(ref r, ref p, "noNewPrivileges"u8, "noNewPrivileges")) x.NoNewPrivileges = Bool(ref r, ref p);
            else if (Prop(ref r, ref p, "apparmorProfile"u8, "apparmorProfile")) x.ApparmorProfile = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "oomScoreAdj"u8, "oomScoreAdj")) x.OomScoreAdj = NI32(ref r, ref p);
            else if (Prop(ref r, ref p, "selinuxLabel"u8, "selinuxLabel")) x.SelinuxLabel = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "ioPriority"u8, "ioPriority")) x.IoPriority = ReadIoPriority(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxIOPriority ReadIoPriority(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxIOPriority();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "class"u8, "class")) x.Class = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "priority"u8, "priority")) x.Priority = I32(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static Box ReadBox(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new Box();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "height"u8, "height")) x.Height = U32(ref r, ref p);
            else if (Prop(ref r, ref p, "width"u8, "width")) x.Width = U32(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static User ReadUser(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new User();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "uid"u8, "uid")) x.Uid = U32(ref r, ref p);
            else if (Prop(ref r, ref p, "gid"u8, "gid")) x.Gid = U32(ref r, ref p);
            else if (Prop(ref r, ref p, "umask"u8, "umask")) x.Umask = NU32(ref r, ref p);
            else if (Prop(ref r, ref p, "additionalGids"u8, "additionalGids")) x.AdditionalGids = List(ref r, ref p, U32, "an array of integers");
            else if (Prop(ref r, ref p, "username"u8, "username")) x.Username = Str(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxCapabilities ReadCapabilities(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxCapabilities();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "bounding"u8, "bounding")) x.Bounding = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "effective"u8, "effective")) x.Effective = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "inheritable"u8, "inheritable")) x.Inheritable = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "permitted"u8, "permitted")) x.Permitted = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "ambient"u8, "ambient")) x.Ambient = StrList(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static PosixRlimit ReadRlimit(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new PosixRlimit();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "type"u8, "type")) x.Type = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "hard"u8, "hard")) x.Hard = U64(ref r, ref p);
            else if (Prop(ref r, ref p, "soft"u8, "soft")) x.Soft = U64(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static Mount ReadMount(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new Mount();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "destination"u8, "destination")) x.Destination = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "type"u8, "type")) x.Type = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "source"u8, "source")) x.Source = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "options"u8, "options")) x.Options = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "uidMappings"u8, "uidMappings")) x.UidMappings = IdMappings(ref r, ref p);
            else if (Prop(ref r, ref p, "gidMappings"u8, "gidMappings")) x.GidMappings = IdMappings(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static Hooks ReadHooks(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new Hooks();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "prestart"u8, "prestart")) x.Prestart = HookList(ref r, ref p);
            else if (Prop(ref r, ref p, "createRuntime"u8, "createRuntime")) x.CreateRuntime = HookList(ref r, ref p);
            else if (Prop(ref r, ref p, "createContainer"u8, "createContainer")) x.CreateContainer = HookList(ref r, ref p);
            else if (Prop(ref r, ref p, "startContainer"u8, "startContainer")) x.StartContainer = HookList(ref r, ref p);
            else if (Prop(ref r, ref p, "poststart"u8, "poststart")) x.Poststart = HookList(ref r, ref p);
            else if (Prop(ref r, ref p, "poststop"u8, "poststop")) x.Poststop = HookList(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static List<Hook>? HookList(ref Utf8JsonReader r, ref PathBuilder p) => List(ref r, ref p, ReadHook, "an array of hooks");

    private static Hook ReadHook(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new Hook();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "path"u8, "path")) x.Path = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "args"u8, "args")) x.Args = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "env"u8, "env")) x.Env = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "timeout"u8, "timeout")) x.Timeout = NI32(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static Linux ReadLinux(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new Linux();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "uidMappings"u8, "uidMappings")) x.UidMappings = IdMappings(ref r, ref p);
            else if (Prop(ref r, ref p, "gidMappings"u8, "gidMappings")) x.GidMappings = IdMappings(ref r, ref p);
            else if (Prop(ref r, ref p, "sysctl"u8, "sysctl")) x.Sysctl = StrDict(ref r, ref p);
            else if (Prop(ref r, ref p, "resources"u8, "resources")) x.Resources = ReadResources(ref r, ref p);
            else if (Prop(ref r, ref p, "cgroupsPath"u8, "cgroupsPath")) x.CgroupsPath = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "namespaces"u8, "namespaces")) x.Namespaces = List(ref r, ref p, ReadNamespace, "an array of namespaces");
            else if (Prop(ref r, ref p, "devices"u8, "devices")) x.Devices = List(ref r, ref p, ReadDevice, "an array of devices");
            else if (Prop(ref r, ref p, "seccomp"u8, "seccomp")) x.Seccomp = ReadSeccomp(ref r, ref p);
            else if (Prop(ref r, ref p, "rootfsPropagation"u8, "rootfsPropagation")) x.RootfsPropagation = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "maskedPaths"u8, "maskedPaths")) x.MaskedPaths = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "readonlyPaths"u8, "readonlyPaths")) x.ReadonlyPaths = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "mountLabel"u8, "mountLabel")) x.MountLabel = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "intelRdt"u8, "intelRdt")) x.IntelRdt = ReadIntelRdt(ref r, ref p);
            else if (Prop(ref r, ref p, "personality"u8, "personality")) x.Personality = ReadPersonality(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static List<LinuxIdMapping>? IdMappings(ref Utf8JsonReader r, ref PathBuilder p) =>
        List(ref r, ref p, ReadIdMapping, "an array of id mappings");

    private static LinuxIdMapping ReadIdMapping(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxIdMapping();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "containerID"u8, "containerID")) x.ContainerId = U32(ref r, ref p);
            else if (Prop(ref r, ref p, "hostID"u8, "hostID")) x.HostId = U32(ref r, ref p);
            else if (Prop(ref r, ref p, "size"u8, "size")) x.Size = U32(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxNamespace ReadNamespace(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxNamespace();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "type"u8, "type")) x.Type = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "path"u8, "path")) x.Path = Str(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxDevice ReadDevice(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxDevice();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "path"u8, "path")) x.Path = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "type"u8, "type")) x.Type = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "major"u8, "major")) x.Major = I64(ref r, ref p);
            else if (Prop(ref r, ref p, "minor"u8, "minor")) x.Minor = I64(ref r, ref p);
            else if (Prop(ref r, ref p, "fileMode"u8, "fileMode")) x.FileMode = NU32(ref r, ref p);
            else if (Prop(ref r, ref p, "uid"u8, "uid")) x.Uid = NU32(ref r, ref p);
            else if (Prop(ref r, ref p, "gid"u8, "gid")) x.Gid = NU32(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxSeccomp ReadSeccomp(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxSeccomp();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "defaultAction"u8, "defaultAction")) x.DefaultAction = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "defaultErrnoRet"u8, "defaultErrnoRet")) x.DefaultErrnoRet = NU32(ref r, ref p);
            else if (Prop(ref r, ref p, "architectures"u8, "architectures")) x.Architectures = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "flags"u8, "flags")) x.Flags = StrList(ref r, ref p);
            else if (Prop(ref r, ref p, "listenerPath"u8, "listenerPath")) x.ListenerPath = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "listenerMetadata"u8, "listenerMetadata")) x.ListenerMetadata = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "syscalls"u8, "syscalls")) x.Syscalls = List(ref r, ref p, ReadSyscall, "an array of syscall rules");
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxSyscall ReadSyscall(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxSyscall();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "names"u8, "names")) x.Names = StrList(ref r, ref p)!;
            else if (Prop(ref r, ref p, "action"u8, "action")) x.Action = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "errnoRet"u8, "errnoRet")) x.ErrnoRet = NU32(ref r, ref p);
            else if (Prop(ref r, ref p, "args"u8, "args")) x.Args = List(ref r, ref p, ReadSeccompArg, "an array of syscall arguments");
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxSeccompArg ReadSeccompArg(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxSeccompArg();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "index"u8, "index")) x.Index = U32(ref r, ref p);
            else if (Prop(ref r, ref p, "value"u8, "value")) x.Value = U64(ref r, ref p);
            else if (Prop(ref r, ref p, "valueTwo"u8, "valueTwo")) x.ValueTwo = U64(ref r, ref p);
            else if (Prop(ref r, ref p, "op"u8, "op")) x.Op = Str(ref r, ref p)!;
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxIntelRdt ReadIntelRdt(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxIntelRdt();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "closID"u8, "closID")) x.ClosID = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "l3CacheSchema"u8, "l3CacheSchema")) x.L3CacheSchema = Str(ref r, ref p);
            else if (Prop(ref r, ref p, "memBwSchema"u8, "memBwSchema")) x.MemBwSchema = Str(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }

    private static LinuxPersonality ReadPersonality(ref Utf8JsonReader r, ref PathBuilder p)
    {
        if (!BeginObject(ref r, ref p)) return null!;
        var x = new LinuxPersonality();
        while (NextProperty(ref r, ref p))
        {
            if (Prop(ref r, ref p, "domain"u8, "domain")) x.Domain = Str(ref r, ref p)!;
            else if (Prop(ref r, ref p, "flags"u8, "flags")) x.Flags = StrList(ref r, ref p);
            else { SkipProperty(ref r); continue; }
            p.Pop();
        }
        return x;
    }
}
