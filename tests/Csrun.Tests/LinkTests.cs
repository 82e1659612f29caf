namespace Csrun.Tests;

/// <summary>How the csrun executable is linked and built to start: what each start has to load and read
/// (Startup.props).</summary>
public class LinkTests
{
    [Fact]
    public void Csrun_executable_is_static()
    {
        var r = Sandbox.Exec("readelf", "-lW", TestEnv.CsrunBinary);
        Assert.True(r.ExitCode == 0, $"readelf (binutils) failed: {r}");
        Assert.Contains("LOAD", r.Stdout);
        Assert.DoesNotContain("INTERP", r.Stdout); // no ld.so to run first
        r = Sandbox.Exec("readelf", "-d", TestEnv.CsrunBinary);
        Assert.Contains("There is no dynamic section in this file", r.Stdout); // hence no DT_NEEDED
    }

    [Fact]
    public void A_start_with_a_seccomp_profile_opens_no_shared_library()
    {
        // libseccomp is linked in: a library loaded with dlopen into a static executable would bring a second
        // libc with it.
        using var sb = new Sandbox();
        string bundle = sb.Bundle(s => s.Linux!.Seccomp = SeccompTests.Profile(
            new Csrun.Oci.LinuxSyscall { Names = ["mkdir", "mkdirat"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1 }),
            "sh", "-c", "mkdir /tmp/x 2>&1");
        string trace = Path.Combine(sb.Dir, "run.strace");
        var r = Sandbox.Exec("strace", "-f", "-e", "trace=openat,open", "-o", trace, TestEnv.CsrunBinary, "--root", sb.Root, "run", "--bundle", bundle, sb.NewId());
        Assert.True(r.ExitCode == 1 && r.Stdout.Contains("Operation not permitted"), $"a container whose mkdir is refused, under strace (is strace installed? make deps): {r}");
        var libraries = File.ReadLines(trace).Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"\.so(\.[0-9]+)*""")).ToList();
        Assert.True(libraries.Count == 0, "shared libraries opened:\n" + string.Join('\n', libraries));
    }

    [Fact]
    public void Runtime_start_takes_the_cache_sizes_from_sysconf_not_sysfs()
    {
        string trace = Path.Combine(Path.GetTempPath(), "csrun-start-" + Guid.NewGuid().ToString("N")[..8] + ".strace");
        try
        {
            var r = Sandbox.Exec("strace", "-f", "-e", "trace=openat", "-o", trace, TestEnv.CsrunBinary, "state", "no-such-container");
            Assert.True(r.ExitCode != 0 && r.Stderr.Contains("does not exist"), $"csrun state of a missing container under strace (is strace installed? make deps): {r}");
            string opens = File.ReadAllText(trace);
            // The trace saw the runtime's start (its cgroup detection reads mountinfo), but not one cache file.
            Assert.Contains("/proc/self/mountinfo", opens);
            Assert.DoesNotContain("/sys/devices/system/cpu/cpu0/cache/", opens);
        }
        finally
        {
            File.Delete(trace);
        }
    }
}
