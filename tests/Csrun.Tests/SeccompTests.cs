using Csrun.Oci;

namespace Csrun.Tests;

public class SeccompTests
{
    internal static LinuxSeccomp Profile(params LinuxSyscall[] rules) => new()
    {
        DefaultAction = "SCMP_ACT_ALLOW",
        Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        Syscalls = [.. rules],
    };

    [Fact]
    public void Denied_syscalls_return_the_configured_errno()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.Seccomp = Profile(
                new LinuxSyscall { Names = ["mkdir", "mkdirat"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1 },
                new LinuxSyscall { Names = ["chmod", "fchmodat", "fchmodat2"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 22 }),
            "sh", "-c", "mkdir /tmp/x 2>&1; touch /tmp/f; chmod 600 /tmp/f 2>&1; grep -E '^Seccomp:' /proc/self/status"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Operation not permitted", r.Stdout);
        Assert.Contains("Invalid argument", r.Stdout);
        Assert.Contains("Seccomp:\t2", r.Stdout);
    }

    [Fact]
    public void Argument_comparisons_select_the_calls()
    {
        using var sb = new Sandbox();
        // kill(pid, SIGUSR1) is refused; kill(pid, 0) is not.
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.Seccomp = Profile(
                new LinuxSyscall
                {
                    Names = ["kill"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1,
                    Args = [new LinuxSeccompArg { Index = 1, Value = 10, Op = "SCMP_CMP_EQ" }],
                }),
            "sh", "-c", "trap 'echo got-usr1' USR1; kill -0 $$ && echo zero-ok; kill -USR1 $$ 2>&1 || echo usr1-refused"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("zero-ok", r.Stdout);
        Assert.Contains("usr1-refused", r.Stdout);
        Assert.DoesNotContain("got-usr1", r.Stdout);
    }

    [Fact]
    public void Kill_process_action_kills_with_sigsys()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.Seccomp = Profile(
                new LinuxSyscall { Names = ["chmod", "fchmodat", "fchmodat2"], Action = "SCMP_ACT_KILL_PROCESS" }),
            "sh", "-c", "touch /tmp/f; chmod 600 /tmp/f; echo status=$?"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("status=159", r.Stdout); // 128 + SIGSYS
    }

    [Fact]
    public void Filter_is_installed_without_no_new_privileges_too()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s =>
        {
            s.Process!.NoNewPrivileges = false;
            s.Linux!.Seccomp = Profile(new LinuxSyscall { Names = ["mkdir", "mkdirat"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1 });
        }, "sh", "-c", "mkdir /tmp/x 2>&1; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Operation not permitted", r.Stdout);
        Assert.Contains("Seccomp:\t2", r.Stdout);
        Assert.Contains("NoNewPrivs:\t0", r.Stdout);
    }

    [Theory]
    [InlineData("SCMP_ACT_BOGUS", "SCMP_ARCH_X86_64", "SCMP_CMP_EQ", "linux.seccomp.syscalls[0].action")]
    [InlineData("SCMP_ACT_ERRNO", "SCMP_ARCH_PDP11", "SCMP_CMP_EQ", "linux.seccomp.architectures[0]")]
    [InlineData("SCMP_ACT_ERRNO", "SCMP_ARCH_X86_64", "SCMP_CMP_SIMILAR", "linux.seccomp.syscalls[0].args[0].op")]
    public void Bad_profile_is_refused_with_the_field_named(string action, string arch, string op, string field)
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "--bundle", sb.Bundle(s => s.Linux!.Seccomp = new LinuxSeccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            Architectures = [arch],
            Syscalls = [new LinuxSyscall { Names = ["kill"], Action = action, Args = [new LinuxSeccompArg { Index = 0, Value = 1, Op = op }] }],
        }), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(field, r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }
}

/// <summary>SCMP_ACT_NOTIFY: the listener at listenerPath gets the filter's fd and answers the calls.</summary>
public unsafe class SeccompNotifyTests
{
    private const nuint NotifRecv = 0xc0502100, NotifSend = 0xc0182101; // SECCOMP_IOCTL_NOTIF_RECV / _SEND

    [Fact]
    public void Listener_receives_the_fd_and_the_process_state_and_answers_the_call()
    {
        using var sb = new Sandbox();
        string path = Path.Combine(sb.Dir, "seccomp.sock");
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        string? state = null;
        int syscallNr = -1;
        var agent = Task.Run(() =>
        {
            using var conn = listener.Accept();
            var data = new byte[8192];
            int fd = Csrun.Linux.Tty.ReceiveFd((int)conn.SafeHandle.DangerousGetHandle(), data, out int len);
            Assert.True(fd >= 0, "no seccomp fd received");
            state = System.Text.Encoding.UTF8.GetString(data, 0, len);
            // struct seccomp_notif: id u64, pid u32, flags u32, then seccomp_data (nr first).
            byte* notif = stackalloc byte[80];
            new Span<byte>(notif, 80).Clear();
            Assert.Equal(0, Csrun.Linux.Tty.Ioctl(fd, NotifRecv, notif));
            syscallNr = *(int*)(notif + 16);
            // struct seccomp_notif_resp: id u64, val s64, error s32, flags u32. Answer EACCES.
            byte* resp = stackalloc byte[24];
            new Span<byte>(resp, 24).Clear();
            *(ulong*)resp = *(ulong*)notif;
            *(int*)(resp + 16) = -13;
            Assert.Equal(0, Csrun.Linux.Tty.Ioctl(fd, NotifSend, resp));
            Csrun.Linux.Libc.Close(fd);
        });
        string id = sb.NewId();
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.Seccomp = new Csrun.Oci.LinuxSeccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            ListenerPath = path,
            ListenerMetadata = "meta-1",
            Syscalls = [new Csrun.Oci.LinuxSyscall { Names = ["mkdir", "mkdirat"], Action = "SCMP_ACT_NOTIFY" }],
        }, "sh", "-c", "mkdir /tmp/notified 2>&1; echo done"), id);
        Assert.True(agent.Wait(TimeSpan.FromSeconds(30)), "the listener never got a notification");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Permission denied", r.Stdout);
        Assert.Contains("done", r.Stdout);
        Assert.True(syscallNr is 83 or 258, $"notified syscall {syscallNr} is not mkdir/mkdirat");
        var doc = System.Text.Json.JsonDocument.Parse(state!).RootElement;
        Assert.Equal("seccompFd", doc.GetProperty("fds")[0].GetString());
        Assert.Equal("meta-1", doc.GetProperty("metadata").GetString());
        Assert.True(doc.GetProperty("pid").GetInt32() > 0);
        Assert.Equal(id, doc.GetProperty("state").GetProperty("id").GetString());
    }

    [Fact]
    public void Notify_without_listener_path_is_refused()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "--bundle", sb.Bundle(s => s.Linux!.Seccomp = new Csrun.Oci.LinuxSeccomp
        {
            DefaultAction = "SCMP_ACT_ALLOW",
            Syscalls = [new Csrun.Oci.LinuxSyscall { Names = ["mkdir"], Action = "SCMP_ACT_NOTIFY" }],
        }), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("linux.seccomp.listenerPath", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }
}

public class SeccompCompilerTests
{
    [Fact]
    public void Default_errno_ret_is_the_filters_default_return()
    {
        // defaultAction ERRNO with defaultErrnoRet 38: the program's fall-through RET is SECCOMP_RET_ERRNO|38.
        var (program, _) = Csrun.Engine.Security.SeccompCompiler.Compile(new Csrun.Oci.LinuxSeccomp
        {
            DefaultAction = "SCMP_ACT_ERRNO",
            DefaultErrnoRet = 38,
            Syscalls = [new Csrun.Oci.LinuxSyscall { Names = ["read", "write", "exit_group"], Action = "SCMP_ACT_ALLOW" }],
        });
        var rets = new List<uint>();
        for (int i = 0; i + 8 <= program.Length; i += 8)
        {
            ushort code = BitConverter.ToUInt16(program, i);
            if (code == 0x06) rets.Add(BitConverter.ToUInt32(program, i + 4)); // BPF_RET|BPF_K
        }
        Assert.Contains(0x00050000u | 38u, rets);
        Assert.Contains(0x7fff0000u, rets);
    }
}
