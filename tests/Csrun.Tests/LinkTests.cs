namespace Csrun.Tests;

/// <summary>How the csrun executable is linked and built to start: what each start has to load and read
/// (native/libm_lazy.c, Startup.props).</summary>
public class LinkTests
{
    private static string NativeArchive
    {
        get
        {
            string p = Path.Combine(TestEnv.Repo, "out/native/libcsrun_native.a");
            Assert.True(File.Exists(p), $"native helper archive not found at {p}: run `make native`");
            return p;
        }
    }

    [Fact]
    public void Csrun_executable_needs_libc_but_not_libm()
    {
        var r = Sandbox.Exec("readelf", "-d", TestEnv.CsrunBinary);
        Assert.True(r.ExitCode == 0, $"readelf (binutils) failed: {r}");
        var needed = r.Stdout.Split('\n').Where(l => l.Contains("(NEEDED)")).ToList();
        Assert.Contains(needed, l => l.Contains("[libc.so.6]"));
        Assert.DoesNotContain(needed, l => l.Contains("libm.so"));
    }

    [Fact]
    public void Lazy_libm_loads_libm_on_the_first_call_and_computes_as_libm()
    {
        string dir = Path.Combine(Path.GetTempPath(), "csrun-libm-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            // Linked as the csrun executable is: the lazy object taken from the archive, libm only as needed.
            string src = Path.Combine(dir, "t.c"), exe = Path.Combine(dir, "t");
            File.WriteAllText(src, """
                #include <math.h>
                #include <stdio.h>
                #include <stdlib.h>
                #include <string.h>
                static int libm_mapped(void)
                {
                    FILE *f = fopen("/proc/self/maps", "r");
                    char line[512];
                    int found = 0;
                    while (f && fgets(line, sizeof line, f))
                        if (strstr(line, "/libm.so"))
                            found = 1;
                    if (f)
                        fclose(f);
                    return found;
                }
                int main(int argc, char **argv)
                {
                    double x = atof(argv[1]), y = atof(argv[2]);
                    printf("before %d\n", libm_mapped());
                    double ip;
                    double frac = modf(x, &ip);
                    printf("pow %.6f sin %.6f cos %.6f log %.6f log2 %.6f ceil %.6f modf %.6f %.6f\n",
                           pow(x, y), sin(x), cos(x), log(x), log2(x), ceil(x), frac, ip);
                    printf("after %d\n", libm_mapped());
                    return 0;
                }
                """);
            var cc = Sandbox.Exec("gcc", "-O2", "-fno-builtin", "-o", exe, src, "-Wl,--undefined=csr_libm_lazy",
                NativeArchive, "-Wl,--as-needed", "-lm");
            Assert.True(cc.ExitCode == 0, $"gcc failed: {cc}");
            var elf = Sandbox.Exec("readelf", "-d", exe);
            Assert.DoesNotContain("libm.so", elf.Stdout);

            var r = Sandbox.Exec(exe, "2.5", "3");
            Assert.True(r.ExitCode == 0, r.ToString());
            string expected = FormattableString.Invariant(
                $"pow {Math.Pow(2.5, 3):F6} sin {Math.Sin(2.5):F6} cos {Math.Cos(2.5):F6} log {Math.Log(2.5):F6} log2 {Math.Log2(2.5):F6} ceil {Math.Ceiling(2.5):F6} modf {0.5:F6} {2.0:F6}");
            Assert.Equal(["before 0", expected, "after 1"], r.Stdout.TrimEnd().Split('\n'));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
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
