using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Csrun.Cri.Containers;

/// <summary>How a container ended, as its monitor recorded it (the exit file).</summary>
public sealed record ContainerExit(int Code, long FinishedAt, int Signal);

/// <summary>
/// csrun-monitor (native/monitor), the per-container process that, like conmon, holds the container's stdio,
/// writes the CRI log, reaps it and records its exit in &lt;dir&gt;/exit. csrund creates the container in process
/// (<see cref="Engine.ContainerRuntime.CreateMonitored"/>): a fork of csrund spawns the init, becomes its
/// parent and execs the monitor, which adopts it. The monitor outlives csrund, so containers keep running,
/// logging and reporting across a daemon restart. csrund talks to it through &lt;dir&gt;/attach.sock.
/// </summary>
public sealed class ContainerMonitor(string monitorPath)
{
    /// <summary>The monitor executable; an RPC that needs one fails clearly when it is missing (a create must
    /// not leave an init nobody adopts).</summary>
    public string RequirePath() =>
        File.Exists(monitorPath) ? monitorPath
            : throw CriErrors.FailedPrecondition($"{monitorPath}: csrun-monitor not found (install it beside csrund, or set $CSRUN_MONITOR)");

    /// <summary>Starts a pod's pid namespace holder (pid 1 of a new pid namespace that only reaps); returns its pid.</summary>
    public async Task<int> StartPauseAsync(CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(RequirePath()) { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("--pause");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {monitorPath}");
        string? line = await process.StandardOutput.ReadLineAsync(cancellationToken);
        if (line is not null && line.StartsWith("ok ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(3), out int pid))
            return pid;
        throw new MonitorException($"pod pid namespace: {line ?? "the holder exited without a word"}");
    }

    /// <summary>Ends a pause process (and with it every process of the pod's pid namespace) if it is still ours.</summary>
    public static void KillPause(int pid)
    {
        if (pid <= 0) return;
        try
        {
            if (File.ReadAllText($"/proc/{pid}/comm").Trim() != "csrun-pause") return;
        }
        catch (IOException) { return; }
        Csrun.Linux.Libc.Kill(pid, 9);
    }

    public static ContainerExit? ReadExit(string dir)
    {
        string path = Path.Combine(dir, "exit");
        string text;
        try { text = File.ReadAllText(path); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        var parts = text.Trim().Split(' ');
        if (parts.Length < 3 || !int.TryParse(parts[0], out int code) || !long.TryParse(parts[1], out long finished)
            || !int.TryParse(parts[2], out int signal))
            return null;
        return new ContainerExit(code, finished, signal);
    }

    /// <summary>Waits for the exit file; false when <paramref name="timeout"/> passes first.</summary>
    public static async Task<bool> WaitExitAsync(string dir, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = Stopwatch.StartNew();
        int delay = 5;
        while (ReadExit(dir) is null)
        {
            if (deadline.Elapsed >= timeout) return false;
            await Task.Delay(delay, cancellationToken);
            delay = Math.Min(delay * 2, 100);
        }
        return true;
    }

    /// <summary>The monitor is alive if its pid still names a csrun-monitor process.</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0) return false;
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim() == "csrun-monitor"; }
        catch (IOException) { return false; }
    }

    /// <summary>Sends one control command ("reopen", "resize R C") and returns the monitor's reply line.</summary>
    public static async Task<string> CommandAsync(string dir, string command, CancellationToken cancellationToken = default)
    {
        using var socket = await ConnectAsync(dir, cancellationToken);
        await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\n"), SocketFlags.None, cancellationToken);
        var buffer = new byte[256];
        int n = 0;
        while (n < buffer.Length)
        {
            int got = await socket.ReceiveAsync(buffer.AsMemory(n), SocketFlags.None, cancellationToken);
            if (got == 0) break;
            n += got;
            if (Array.IndexOf(buffer, (byte)'\n', 0, n) >= 0) break;
        }
        return Encoding.ASCII.GetString(buffer, 0, n).Trim();
    }

    /// <summary>An attached connection: what is written to it goes to the container's stdin; what comes back
    /// are frames (1 byte stream, 4 bytes big-endian length, data) of its output.</summary>
    public static async Task<Socket> AttachAsync(string dir, CancellationToken cancellationToken = default)
    {
        var socket = await ConnectAsync(dir, cancellationToken);
        await socket.SendAsync("attach\n"u8.ToArray(), SocketFlags.None, cancellationToken);
        return socket;
    }

    private static async Task<Socket> ConnectAsync(string dir, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        string path = Path.Combine(dir, "attach.sock");
        Csrun.Linux.SafeFd? dirFd = null;
        try
        {
            // A sockaddr_un holds 107 bytes of path; a longer one is reached through the directory's fd.
            if (Encoding.UTF8.GetByteCount(path) > 107)
            {
                dirFd = Csrun.Linux.SafeFd.Open(dir, Csrun.Linux.Libc.O_PATH | Csrun.Linux.Libc.O_DIRECTORY);
                path = $"/proc/self/fd/{dirFd.Fd}/attach.sock";
            }
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        finally
        {
            dirFd?.Dispose();
        }
    }
}

public sealed class MonitorException(string message) : Exception(message);
