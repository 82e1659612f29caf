using Csrun.Oci;

namespace Csrun.Tests;

public class SeccompTests
{
    private static LinuxSeccomp Profile(params LinuxSyscall[] rules) => new()
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
