using Csrun.Oci;

namespace Csrun.Tests;

/// <summary>Namespaces, the root filesystem, mounts, devices, masked and readonly paths, as seen from inside.</summary>
public class NamespaceAndMountTests
{
    private static string Ns(string type) => new FileInfo($"/proc/self/ns/{type}").LinkTarget!;

    [Fact]
    public void Container_gets_its_own_namespaces_and_is_pid_1()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(null, "sh", "-c",
            "echo pid=$$; for n in pid mnt uts ipc net cgroup; do echo $n=$(readlink /proc/self/ns/$n); done; ps -o pid,comm; true"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("pid=1\n", r.Stdout);
        foreach (var (name, file) in new[] { ("pid", "pid"), ("mnt", "mnt"), ("uts", "uts"), ("ipc", "ipc"), ("net", "net"), ("cgroup", "cgroup") })
        {
            Assert.DoesNotContain($"{name}={Ns(file)}", r.Stdout);
            Assert.Contains($"{name}={file}:[", r.Stdout);
        }
        // ps: the shell is PID 1 and is the only other process beside ps itself.
        var psLines = r.Stdout.Split('\n').SkipWhile(l => !l.TrimStart().StartsWith("PID")).Skip(1).Where(l => l.Trim().Length > 0).ToList();
        Assert.Matches(@"^\s*1\s+sh", psLines[0]);
    }

    [Fact]
    public void Hostname_and_domainname_are_set_in_the_new_uts_namespace()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => { s.Hostname = "box-one"; s.Domainname = "example.test"; }, "sh", "-c", "hostname; cat /proc/sys/kernel/domainname"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("box-one\nexample.test", r.Stdout.Trim());
        Assert.NotEqual("box-one", File.ReadAllText("/proc/sys/kernel/hostname").Trim());
    }

    [Fact]
    public void Network_namespace_has_only_loopback()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(null, "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("lo", r.Stdout.Trim());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_new_network_namespace_has_its_loopback_up(bool hostIpc)
    {
        // As runc and crun leave it: lo up with 127.0.0.1, so that a server and a client in the container can
        // talk over it with no network configured. The client retries while the listener starts; the listener
        // hands the connection to a `cat` that reads it to the client's close (a plain `nc -l` with stdin at EOF
        // may exit before it has read what came: seen once under load). With the default namespaces the
        // start-up's spawner makes the network namespace and brings lo up; without an ipc namespace of its own
        // the spawner is dismissed and the init brings it up.
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => { if (hostIpc) s.Linux!.Namespaces!.RemoveAll(n => n.Type == "ipc"); }, "sh", "-c",
            "nc -l -p 5000 -e sh -c 'cat > /tmp/got' & l=$!; ok=0; " +
            "for i in 1 2 3 4 5 6 7 8 9 10; do if echo hello-over-lo | nc -w 2 127.0.0.1 5000; then ok=1; break; fi; sleep 0.2; done; " +
            "if [ $ok = 1 ]; then wait $l; else kill $l; fi; " +
            "echo got=$(cat /tmp/got); cat /sys/class/net/lo/flags; ip -o -4 addr show lo"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("got=hello-over-lo\n", r.Stdout);
        // IFF_UP | IFF_LOOPBACK (the kernel adds IFF_RUNNING only in operstate, not in flags).
        Assert.Contains("\n0x9\n", r.Stdout);
        Assert.Contains("inet 127.0.0.1/8", r.Stdout);
    }

    [Fact]
    public void Each_container_gets_a_fresh_network_and_ipc_namespace_and_sysfs_shows_its_own()
    {
        // The runtime makes these two on a second thread ahead of the clone (PreparedNamespaces): two live
        // containers must still never share one, and sysfs, mounted after the join, must show the new one.
        // (Namespace inode numbers are reused once freed, so the first container stays alive meanwhile.)
        using var sb = new Sandbox();
        int pid = sb.RunDetached(sb.Bundle(null, "sleep", "300"), sb.NewId("first"));
        string firstNet = new FileInfo($"/proc/{pid}/ns/net").LinkTarget!, firstIpc = new FileInfo($"/proc/{pid}/ns/ipc").LinkTarget!;
        var r = sb.RunContainer(sb.Bundle(null, "sh", "-c", "for n in net ipc; do readlink /proc/self/ns/$n; done; ls /sys/class/net"));
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("net:[", lines[0]);
        Assert.StartsWith("ipc:[", lines[1]);
        Assert.Equal("lo", lines[2]);
        Assert.NotEqual(firstNet, lines[0]);
        Assert.NotEqual(firstIpc, lines[1]);
        Assert.NotEqual(Ns("net"), firstNet);
        Assert.NotEqual(Ns("ipc"), firstIpc);
        Assert.NotEqual(Ns("net"), lines[0]);
        Assert.NotEqual(Ns("ipc"), lines[1]);
    }

    [Fact]
    public void Run_and_create_take_the_namespaces_csrun_made_before_dotnet_started()
    {
        // native/nsprep_early.c: csrun's executable starts them from a constructor when its command is run or
        // create, so the thread has the second core while .NET starts. The phase trace says when the engine took
        // them; a link that left the constructor out of the binary would silently lose the overlap.
        using var sb = new Sandbox();
        foreach (string command in (string[])["run", "create"])
        {
            string id = sb.NewId(command);
            var r = sb.CsrunTraced("--log-format", "text", command, "--bundle", sb.Bundle(null, "sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net"), id);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("note namespaces made at start-up", r.Stderr);
            if (command == "create")
            {
                int pid = System.Text.Json.JsonDocument.Parse(sb.Csrun("state", id).Stdout).RootElement.GetProperty("pid").GetInt32();
                Assert.NotEqual(Ns("net"), new FileInfo($"/proc/{pid}/ns/net").LinkTarget);
                Assert.NotEqual(Ns("ipc"), new FileInfo($"/proc/{pid}/ns/ipc").LinkTarget);
                Assert.Equal(0, sb.Csrun("delete", "-f", id).ExitCode);
            }
            else
            {
                string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal(["lo"], lines[1..]);
                Assert.NotEqual(Ns("net"), lines[0]);
            }
            Leaks.AssertNothingLeft(sb, id);
        }
        // Any other command leaves namespaces alone.
        var list = sb.CsrunTraced("list");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.DoesNotContain("namespaces made at start-up", list.Stderr);
    }

    [Fact]
    public void The_spawner_clones_the_init_as_csruns_own_child_and_is_gone_once_it_has()
    {
        // native/spawner.c: run and create hand the clone to a helper forked before .NET started. With CLONE_PARENT
        // the init is still csrun's own child (a prestart hook, csrun's child too, compares the two parents), so
        // csrun waits for it and passes its exit status on; and the helper is gone once csrun has the init.
        using var sb = new Sandbox();
        string log = Path.Combine(sb.Dir, "parents.log");
        string hook = Path.Combine(sb.Dir, "parents.sh");
        File.WriteAllText(hook, "#!/bin/sh\npid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/')\n" +
            $"echo \"$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$pid/status) $PPID\" > {log}\n");
        File.SetUnixFileMode(hook, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string id = sb.NewId("run");
        var r = sb.CsrunTraced("run", "--bundle", sb.Bundle(s => s.Hooks = new Hooks { Prestart = [new Hook { Path = hook }] }, "sh", "-c", "exit 7"), id);
        Assert.True(r.ExitCode == 7, r.ToString());
        Assert.Contains("note init cloned by the start-up's spawner", r.Stderr);
        string[] parents = File.ReadAllText(log).Split(' ', StringSplitOptions.TrimEntries);
        Assert.Equal(2, parents.Length);
        Assert.True(parents[0] == parents[1], $"the init's parent {parents[0]} is not the csrun that ran the hook ({parents[1]})");
        Leaks.AssertNothingLeft(sb, id);

        // create: the init waits for start, carrying csrun's command line; nothing else does.
        id = sb.NewId("create");
        r = sb.CsrunTraced("create", "--bundle", sb.Bundle(null, "true"), id);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("note init cloned by the start-up's spawner", r.Stderr);
        int pid = System.Text.Json.JsonDocument.Parse(sb.Csrun("state", id).Stdout).RootElement.GetProperty("pid").GetInt32();
        Assert.Equal([pid], Leaks.Processes(id));
        Assert.Equal(0, sb.Csrun("delete", "-f", id).ExitCode);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_plan_too_big_for_the_spawners_memory_is_cloned_by_csrun_itself(bool withoutCgroup2)
    {
        // The spawner can take only a plan wholly built in the 4 MiB it shares with csrun; 40,000 masked paths of
        // ~130 bytes make one that is not. csrun then clones the init itself, in new network and ipc namespaces of
        // the clone's own, and the container runs as any other; without a cgroup2 mount, the init the spawner
        // cloned ahead is dismissed (SpawnerTests).
        using var sb = new Sandbox();
        string id = sb.NewId();
        string[] args = ["run", "--bundle", sb.Bundle(s =>
        {
            s.Linux!.MaskedPaths = [.. Enumerable.Range(0, 40_000).Select(i => $"/not-there/{new string('m', 110)}/{i}")];
        }, "sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net; exit 3"), id];
        var r = withoutCgroup2 ? sb.CsrunWithoutCgroup2(args) : sb.CsrunTraced(args);
        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.DoesNotContain("spawner", r.Stderr);
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEqual(Ns("net"), lines[0]);
        Assert.Equal(["lo"], lines[1..]);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Without_new_network_namespace_the_ones_made_at_start_up_are_dropped()
    {
        // The host's network namespace, by path (csrun's own, which is the host's): the start-up's new one is
        // discarded unused.
        using var sb = new Sandbox();
        var r = sb.CsrunTraced("run", "--bundle",
            sb.Bundle(s =>
            {
                s.Linux!.Namespaces!.RemoveAll(n => n.Type is "network" or "ipc");
                s.Linux.Namespaces.Add(new LinuxNamespace { Type = "network", Path = "/proc/self/ns/net" });
            }, "sh", "-c", "for n in net ipc; do readlink /proc/self/ns/$n; done; ls /proc/self/fd"), sb.NewId());
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain("namespaces made at start-up", r.Stderr);
        // The spawner lives in the namespaces it made: it is dismissed, and csrun clones the init itself.
        Assert.DoesNotContain("spawner", r.Stderr);
        string[] lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Ns("net"), lines[0]);
        Assert.Equal(Ns("ipc"), lines[1]);
        // stdio and the fd ls itself opens: nothing of the discarded namespaces came along.
        Assert.Equal(["0", "1", "2", "3"], lines[2..]);
    }

    [Fact]
    public void Joins_an_existing_network_namespace_by_path()
    {
        using var sb = new Sandbox();
        string name = "csrt-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, Sandbox.Exec("ip", "netns", "add", name).ExitCode);
        try
        {
            string inode = Sandbox.Exec("stat", "-L", "-c", "%i", $"/run/netns/{name}").Stdout.Trim();
            string bundle = sb.Bundle(s =>
            {
                s.Linux!.Namespaces!.RemoveAll(n => n.Type == "network");
                s.Linux.Namespaces.Add(new LinuxNamespace { Type = "network", Path = $"/run/netns/{name}" });
            }, "sh", "-c", "readlink /proc/self/ns/net; cat /sys/class/net/lo/flags");
            var r = sb.RunContainer(bundle);
            Assert.True(r.ExitCode == 0, r.ToString());
            // Someone else's namespace stays as it is: `ip netns add` leaves its loopback down (IFF_LOOPBACK only).
            Assert.Equal($"net:[{inode}]\n0x8", r.Stdout.Trim());
        }
        finally
        {
            Sandbox.Exec("ip", "netns", "delete", name);
        }
    }

    [Fact]
    public void Joins_an_existing_pid_namespace_by_path()
    {
        using var sb = new Sandbox();
        // A first container holds a pid namespace; the second joins it and sees the first's process.
        int holderPid = sb.RunDetached(sb.Bundle(null, "sleep", "300"), sb.NewId("holder"));
        string bundle = sb.Bundle(s =>
        {
            s.Linux!.Namespaces!.RemoveAll(n => n.Type == "pid");
            s.Linux.Namespaces.Add(new LinuxNamespace { Type = "pid", Path = $"/proc/{holderPid}/ns/pid" });
        }, "sh", "-c", "cat /proc/1/comm; echo me=$$");
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.StartsWith("sleep", r.Stdout.Trim());
        Assert.DoesNotContain("me=1\n", r.Stdout);
    }

    [Fact]
    public void Standard_mounts_are_in_place()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(null, "cat", "/proc/self/mountinfo"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var mounts = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l =>
        {
            var f = l.Split(' ');
            int dash = Array.IndexOf(f, "-");
            return (Point: f[4], Opts: f[5], Type: f[dash + 1]);
        }).ToList();
        Assert.Contains(mounts, m => m.Point == "/proc" && m.Type == "proc");
        Assert.Contains(mounts, m => m.Point == "/dev" && m.Type == "tmpfs" && m.Opts.Contains("nosuid"));
        Assert.Contains(mounts, m => m.Point == "/dev/pts" && m.Type == "devpts");
        Assert.Contains(mounts, m => m.Point == "/dev/shm" && m.Type == "tmpfs" && m.Opts.Contains("noexec"));
        Assert.Contains(mounts, m => m.Point == "/dev/mqueue" && m.Type == "mqueue");
        Assert.Contains(mounts, m => m.Point == "/sys" && m.Type == "sysfs" && m.Opts.Split(',').Contains("ro"));
        Assert.Contains(mounts, m => m.Point == "/");
        // Nothing of the host's tree is visible beyond what the spec asked for.
        Assert.DoesNotContain(mounts, m => m.Point.StartsWith("/work") || m.Point.StartsWith("/run/csrun"));
    }

    [Fact]
    public void Default_devices_and_links_exist_and_spec_devices_are_created()
    {
        using var sb = new Sandbox();
        string bundle = sb.Bundle(s =>
        {
            // One in a directory of its own (made), one owned by another user, one back in /dev.
            s.Linux!.Devices =
            [
                new LinuxDevice { Path = "/dev/kmsg2", Type = "c", Major = 1, Minor = 11, FileMode = 0x1A0, Uid = 0, Gid = 0 },
                new LinuxDevice { Path = "/dev/net/null2", Type = "c", Major = 1, Minor = 3, FileMode = 0x1B6 },
                new LinuxDevice { Path = "/dev/zero2", Type = "c", Major = 1, Minor = 5, FileMode = 0x180, Uid = 1000, Gid = 5 },
            ];
        }, "sh", "-c", "stat -c '%n %F %t:%T %a %u:%g' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/kmsg2 /dev/net/null2 /dev/zero2; for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; echo hi > /dev/null && echo null-ok");
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("/dev/null character special file 1:3 666 0:0", r.Stdout);
        Assert.Contains("/dev/zero character special file 1:5 666 0:0", r.Stdout);
        Assert.Contains("/dev/tty character special file 5:0 666 0:0", r.Stdout);
        Assert.Contains("/dev/kmsg2 character special file 1:b 640 0:0", r.Stdout);
        Assert.Contains("/dev/net/null2 character special file 1:3 666 0:0", r.Stdout);
        Assert.Contains("/dev/zero2 character special file 1:5 600 1000:5", r.Stdout);
        Assert.Contains("/proc/self/fd\n/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\npts/ptmx", r.Stdout);
        Assert.Contains("null-ok", r.Stdout);
    }

    [Fact]
    public void Devices_follow_every_mount()
    {
        // The devices come after the mounts: before the resume where only the cgroup mount is left (runc's default
        // spec), after it otherwise. A tmpfs on /dev/extra after the cgroup mount must not hide a device in it.
        using var sb = new Sandbox();
        string bundle = sb.Bundle(s =>
        {
            s.Mounts!.Add(new Mount { Destination = "/dev/extra", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "mode=755"] });
            s.Linux!.Devices = [new LinuxDevice { Path = "/dev/extra/null3", Type = "c", Major = 1, Minor = 3, FileMode = 0x1B6 }];
        }, "sh", "-c", "stat -c '%n %t:%T' /dev/extra/null3 /dev/null; awk '$5 == \"/dev/extra\" {print $9}' /proc/self/mountinfo");
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["/dev/extra/null3 1:3", "/dev/null 1:3", "tmpfs"], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void A_failing_cgroup_mount_fails_the_start()
    {
        // The cgroup mount, runc's last, is made after the resume, once the init has joined its cgroups: its failure
        // (here: its tmpfs on a file) still fails the start with the mount named, and leaves nothing behind.
        using var sb = new Sandbox();
        Leaks.AssertRunFails(sb, sb.Bundle(s => s.Mounts!.Single(m => m.Type == "cgroup").Destination = "/bin/busybox"),
            "mount tmpfs on /bin/busybox: Not a directory");
    }

    [Fact]
    public void A_masked_path_inside_the_cgroup_mount_follows_it()
    {
        // Masks come after every mount, the cgroup mount made after the resume included: one inside it lands on top.
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.MaskedPaths = [.. s.Linux.MaskedPaths!, "/sys/fs/cgroup/pids"],
            "sh", "-c", "ls /sys/fs/cgroup/pids | wc -l; ls /sys/fs/cgroup/memory | wc -l"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", lines[0].Trim());
        Assert.NotEqual("0", lines[1].Trim());
    }

    [Fact]
    public void Readonly_root_cannot_be_written()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Root!.Readonly = true, "sh", "-c", "touch /newfile 2>&1; echo rc=$?; touch /tmp/x 2>&1; echo tmp=$?"));
        Assert.Contains("Read-only file system", r.Stdout);
        Assert.Contains("rc=1", r.Stdout);
    }

    [Fact]
    public void Masked_and_readonly_paths_apply()
    {
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(null, "sh", "-c",
            "cat /proc/timer_list /proc/keys | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>&1 || echo ro-ok; grep -c ' /proc/sys ' /proc/self/mountinfo"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", lines[0].Trim());
        Assert.Equal("0", lines[1].Trim());
        Assert.Contains("ro-ok", r.Stdout);
    }

    [Fact]
    public void Bind_mount_with_options_and_tmpfs_with_data()
    {
        using var sb = new Sandbox();
        string host = Path.Combine(sb.Dir, "shared");
        Directory.CreateDirectory(host);
        File.WriteAllText(Path.Combine(host, "hello.txt"), "from host");
        string bundle = sb.Bundle(s =>
        {
            s.Mounts!.Add(new Mount { Destination = "/data", Type = "bind", Source = host, Options = ["rbind", "ro", "nosuid", "nodev"] });
            s.Mounts.Add(new Mount { Destination = "/scratch/deep", Type = "tmpfs", Source = "tmpfs", Options = ["size=1m", "mode=700", "noexec"] });
        }, "sh", "-c", "cat /data/hello.txt; echo; touch /data/x 2>&1 || true; grep -E ' /(data|scratch/deep) ' /proc/self/mountinfo; stat -c %a /scratch/deep");
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("from host", r.Stdout);
        Assert.Contains("Read-only file system", r.Stdout);
        Assert.Matches(@" /data ro,nosuid,nodev", r.Stdout);
        Assert.Matches(@" /scratch/deep rw,[^ ]*noexec", r.Stdout);
        Assert.Contains("size=1024k", r.Stdout);
        Assert.EndsWith("700", r.Stdout.Trim());
        Assert.False(File.Exists(Path.Combine(host, "x")));
    }

    [Fact]
    public void Recursive_mount_options_reach_the_mounts_below()
    {
        // OCI 1.1: "rro", "rnosuid", "rnoatime"... apply to a bind mount and every mount under its source, where
        // "ro" leaves the submounts as they are. The host directory carries a tmpfs of its own.
        using var sb = new Sandbox();
        string host = Path.Combine(sb.Dir, "tree"), sub = Path.Combine(host, "sub");
        Directory.CreateDirectory(sub);
        Assert.Equal(0, Sandbox.Exec("mount", "-t", "tmpfs", "tmpfs", sub).ExitCode);
        try
        {
            string bundle = sb.Bundle(s =>
            {
                s.Mounts!.Add(new Mount { Destination = "/rec", Type = "bind", Source = host, Options = ["rbind", "rro", "rnosuid", "rnoatime"] });
                s.Mounts.Add(new Mount { Destination = "/top", Type = "bind", Source = host, Options = ["rbind", "ro"] });
            }, "sh", "-c", "for f in /rec/sub/x /top/sub/y; do touch $f 2>/dev/null && echo $f writable || echo $f read-only; done; " +
                          "grep -E ' /(rec|top)(/sub)? ' /proc/self/mountinfo | cut -d' ' -f5,6");
            var r = sb.RunContainer(bundle);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("/rec/sub/x read-only", r.Stdout);
            Assert.Contains("/top/sub/y writable", r.Stdout);
            Assert.Matches(@"/rec ro,nosuid,noatime\b", r.Stdout);
            Assert.Matches(@"/rec/sub ro,nosuid,noatime\b", r.Stdout);
            Assert.Matches(@"/top/sub rw,", r.Stdout);
        }
        finally
        {
            Sandbox.Exec("umount", "-l", sub);
        }
    }

    [Fact]
    public void Tmpfs_with_tmpcopyup_starts_with_what_the_image_held_there()
    {
        // runc's extension, which podman puts on --read-only's tmpfs mounts: files, a directory of another owner, a
        // symlink (copied as one, not followed) and a fifo come along with owners and modes; "ro" holds after the
        // copy; a tmpfs without the option starts empty.
        using var sb = new Sandbox();
        string bundle = sb.Bundle(s =>
        {
            s.Mounts!.Add(new Mount { Destination = "/data", Type = "tmpfs", Source = "tmpfs", Options = ["tmpcopyup", "ro", "nosuid", "size=1m"] });
            s.Mounts.Add(new Mount { Destination = "/plain", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid"] });
        }, "sh", "-c", "cat /data/f /data/sub/g; stat -c '%n %a %u' /data/f /data/sub; readlink /data/l; " +
                      "[ -p /data/fifo ] && echo fifo; touch /data/new 2>/dev/null || echo read-only; " +
                      "grep ' /data ' /proc/self/mountinfo | cut -d' ' -f9; ls -A /plain | wc -l");
        string rootfs = Path.Combine(bundle, "rootfs");
        Directory.CreateDirectory(Path.Combine(rootfs, "data", "sub"));
        Directory.CreateDirectory(Path.Combine(rootfs, "plain"));
        File.WriteAllText(Path.Combine(rootfs, "data", "f"), "hello\n");
        File.WriteAllText(Path.Combine(rootfs, "data", "sub", "g"), "world\n");
        File.WriteAllText(Path.Combine(rootfs, "plain", "hidden"), "x");
        File.SetUnixFileMode(Path.Combine(rootfs, "data", "f"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        File.CreateSymbolicLink(Path.Combine(rootfs, "data", "l"), "/etc/passwd");
        Assert.Equal(0, Sandbox.Exec("chown", "1000:1000", Path.Combine(rootfs, "data", "sub")).ExitCode);
        Assert.Equal(0, Sandbox.Exec("mkfifo", Path.Combine(rootfs, "data", "fifo")).ExitCode);
        var r = sb.RunContainer(bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello\nworld\n/data/f 640 0\n/data/sub 755 1000\n/etc/passwd\nfifo\nread-only\ntmpfs\n0", r.Stdout.Trim());
    }

    [Fact]
    public void Mount_destination_symlink_cannot_escape_the_rootfs()
    {
        using var sb = new Sandbox();
        string marker = "csrun-escape-" + Guid.NewGuid().ToString("N")[..8];
        string bundle = sb.Bundle(s =>
        {
            s.Mounts!.Add(new Mount { Destination = $"/evil/{marker}", Type = "tmpfs", Source = "tmpfs" });
        }, "sh", "-c", $"ls -d /etc/{marker} && echo inside");
        // /evil -> /etc: on the host that would be the host's /etc.
        File.CreateSymbolicLink(Path.Combine(bundle, "rootfs/evil"), "/etc");
        try
        {
            var r = sb.RunContainer(bundle);
            Assert.False(Directory.Exists($"/etc/{marker}"), "the mount escaped to the host's /etc");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("inside", r.Stdout);
        }
        finally
        {
            if (Directory.Exists($"/etc/{marker}")) Directory.Delete($"/etc/{marker}");
        }
    }

    [Fact]
    public void No_pivot_uses_chroot_and_still_works()
    {
        using var sb = new Sandbox();
        var r = sb.Csrun("run", "--no-pivot", "--bundle", sb.Bundle(null, "sh", "-c", "cat /etc/hostname; echo $$"), sb.NewId());
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("busybox\n1", r.Stdout.Trim());
    }

    [Fact]
    public void Rootfs_propagation_is_applied()
    {
        // rprivate: the container's root shares no peer group with the host (no "shared:" or "master:").
        using var sb = new Sandbox();
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.RootfsPropagation = "rprivate", "sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain("shared:", r.Stdout);
        Assert.DoesNotContain("master:", r.Stdout);
    }

    [Fact]
    public void Rootfs_propagation_shared_still_pivots_and_leaves_the_host_alone()
    {
        // Not a recursive slave or private "/": the rootfs's parent mount may stay shared, which pivot_root refuses,
        // so the init finds it in mountinfo and makes it private in its own namespace (the only case it reads it).
        using var sb = new Sandbox();
        static string HostRoot() => File.ReadLines("/proc/self/mountinfo").First(l => l.Split(' ')[4] == "/");
        string before = HostRoot();
        var r = sb.RunContainer(sb.Bundle(s => s.Linux!.RootfsPropagation = "rshared", "sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo; echo $$"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("shared:", r.Stdout);
        Assert.EndsWith("\n1", r.Stdout.TrimEnd());
        Assert.Equal(before, HostRoot());
        Assert.Empty(Leaks.Mounts(sb.Dir));
    }
}
