using System.Net.Sockets;
using System.Text;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Tests;

/// <summary>process.terminal with --console-socket: what conmon and containerd's shim do with runc.</summary>
public unsafe class TerminalTests
{
    /// <summary>Accepts one connection and returns the fd that came with it (SCM_RIGHTS), or -1.</summary>
    private static int ReceiveMaster(Socket listener)
    {
        using var conn = listener.Accept();
        return Tty.ReceiveFd((int)conn.SafeHandle.DangerousGetHandle());
    }

    /// <summary>Reads the pty until the slave side closes (EIO) or 20 s pass.</summary>
    private static string ReadAll(int master)
    {
        var sb = new StringBuilder();
        byte* buf = stackalloc byte[4096];
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var pfd = new Libc.PollFd { Fd = master, Events = Libc.POLLIN };
            if (Libc.Poll(&pfd, 1, 200) <= 0) continue;
            nint n = Libc.Read(master, buf, 4096);
            if (n <= 0) break;
            sb.Append(Encoding.UTF8.GetString(buf, (int)n));
        }
        return sb.ToString();
    }

    private static Socket Listen(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint(path));
        s.Listen(1);
        return s;
    }

    [Fact]
    public void Container_gets_a_pty_through_the_console_socket()
    {
        using var sb = new Sandbox();
        string sock = Path.Combine(sb.Dir, "console.sock");
        using var listener = Listen(sock);
        string id = sb.NewId();
        string bundle = sb.Bundle(s =>
        {
            s.Process!.Terminal = true;
            s.Process.ConsoleSize = new Box { Height = 40, Width = 120 };
        }, "sh", "-c", "tty; stty size; [ -t 0 ] && echo stdin-is-tty; read line; echo got:$line");
        var r = sb.Csrun("run", "-d", "--console-socket", sock, "--bundle", bundle, id);
        Assert.True(r.ExitCode == 0, r.ToString());
        int master = ReceiveMaster(listener);
        Assert.True(master >= 0, "no pty master received on the console socket");
        try
        {
            byte[] input = "hello\n"u8.ToArray();
            fixed (byte* p = input) Libc.Write(master, p, input.Length);
            string output = ReadAll(master);
            Assert.Contains("/dev/pts/0", output);
            Assert.Contains("40 120", output);
            Assert.Contains("stdin-is-tty", output);
            Assert.Contains("got:hello", output);
        }
        finally
        {
            Libc.Close(master);
        }
    }

    [Fact]
    public void Detached_terminal_without_console_socket_is_a_clear_error()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        var r = sb.Csrun("run", "-d", "--bundle", sb.Bundle(s => s.Process!.Terminal = true), id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--console-socket", r.Stderr);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Foreground_run_puts_the_container_on_the_callers_terminal()
    {
        // script(1) is the caller's terminal (30x100); csrun proxies the container's pty to it in raw mode.
        using var sb = new Sandbox();
        string id = sb.NewId();
        string bundle = sb.Bundle(s => s.Process!.Terminal = true, "sh", "-c", "tty; stty size; read x; echo got:$x; exit 7");
        string run = $"stty cols 100 rows 30; {TestEnv.CsrunBinary} --root {sb.Root} run --bundle {bundle} {id}";
        var r = Sandbox.Run("/bin/sh", ["-c", $"(sleep 1; echo hello) | script -qec '{run}' /dev/null"], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 7, r.ToString());
        Assert.Contains("/dev/pts/0", r.Stdout);
        Assert.Contains("30 100", r.Stdout);
        Assert.Contains("got:hello", r.Stdout);
        Leaks.AssertNothingLeft(sb, id);
    }

    [Fact]
    public void Exec_with_a_tty()
    {
        using var sb = new Sandbox();
        string id = sb.NewId();
        Assert.Equal(0, sb.Csrun("run", "-d", "--bundle", sb.Bundle(null, "sleep", "300"), id).ExitCode);
        string sock = Path.Combine(sb.Dir, "exec.sock");
        using var listener = Listen(sock);
        var r = sb.Csrun("exec", "-t", "-d", "--console-socket", sock, id, "--", "sh", "-c", "tty; echo exec-done");
        Assert.True(r.ExitCode == 0, r.ToString());
        int master = ReceiveMaster(listener);
        Assert.True(master >= 0, "no pty master received on the console socket");
        try
        {
            string output = ReadAll(master);
            Assert.Contains("/dev/pts/", output);
            Assert.Contains("exec-done", output);
        }
        finally
        {
            Libc.Close(master);
        }
    }
}
