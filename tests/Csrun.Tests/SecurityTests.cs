using System.Security.Cryptography;

namespace Csrun.Tests;

/// <summary>runc's worst bugs, tried against csrun.</summary>
public class SecurityTests
{
    [Fact]
    public void Program_that_execs_proc_self_exe_never_runs_the_runtime_binary()
    {
        // CVE-2019-5736: with "#!/proc/self/exe" the kernel runs whatever /proc/self/exe names at exec time.
        // For runc that was runc itself, inside the container, which then overwrote the host binary.
        // csrun's last hop is csrun-exec from a sealed memfd: it refuses the call and nothing of csrun runs.
        using var sb = new Sandbox();
        string before = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(TestEnv.CsrunBinary)));
        string bundle = sb.Bundle(null, "/evil");
        File.WriteAllText(Path.Combine(bundle, "rootfs/evil"), "#!/proc/self/exe\n");
        File.SetUnixFileMode(Path.Combine(bundle, "rootfs/evil"), (UnixFileMode)0x1ED);
        var r = sb.RunContainer(bundle);
        Assert.Equal(127, r.ExitCode);
        Assert.Contains("csrun-exec: usage", r.Stderr);
        Assert.DoesNotContain("Unrecognized command", r.Stderr);
        Assert.Equal(before, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(TestEnv.CsrunBinary))));
    }
}
