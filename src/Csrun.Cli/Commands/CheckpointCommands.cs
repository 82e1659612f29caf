using System.CommandLine;
using System.Diagnostics;
using Csrun.Engine;

namespace Csrun.Cli.Commands;

/// <summary>
/// checkpoint/restore go through criu. Where `criu check` fails (as on this VM's kernel: criu cannot read
/// the vdso) the command says so with criu's own reason; the dump/restore itself is not implemented yet.
/// </summary>
internal static class CheckpointCommands
{
    public static Command Checkpoint()
    {
        var id = new Argument<string>("container-id");
        var imagePath = new Option<string?>("--image-path") { Description = "where to write the checkpoint" };
        var leaveRunning = new Option<bool>("--leave-running");
        var c = new Command("checkpoint", "checkpoint a running container with criu") { id, imagePath, leaveRunning };
        c.SetAction(p => GlobalOptions.Execute(p, "checkpoint", rt =>
        {
            rt.State(p.GetValue(id)!); // the container must exist
            RequireCriu();
            throw new ContainerException("checkpoint through criu is not implemented by this version of csrun");
        }));
        return c;
    }

    public static Command Restore()
    {
        var id = new Argument<string>("container-id");
        var imagePath = new Option<string?>("--image-path");
        var bundle = new Option<string>("--bundle", "-b") { DefaultValueFactory = _ => "." };
        var c = new Command("restore", "restore a container from a criu checkpoint") { id, imagePath, bundle };
        c.SetAction(p => GlobalOptions.Execute(p, "restore", _ =>
        {
            RequireCriu();
            throw new ContainerException("restore through criu is not implemented by this version of csrun");
        }));
        return c;
    }

    private static void RequireCriu()
    {
        var psi = new ProcessStartInfo("criu", "check") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        Process? criu;
        try
        {
            criu = Process.Start(psi);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new ContainerException("criu is not installed (Debian package criu)");
        }
        using (criu)
        {
            string err = criu!.StandardError.ReadToEnd() + criu.StandardOutput.ReadToEnd();
            criu.WaitForExit();
            var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            bool failed = criu.ExitCode != 0 || lines.Any(l => l.StartsWith("Error", StringComparison.Ordinal));
            if (failed)
            {
                string reason = lines.LastOrDefault(l => l.StartsWith("Error", StringComparison.Ordinal)) ?? $"criu check exited with {criu.ExitCode}";
                throw new ContainerException($"criu cannot run on this host (`criu check`: {reason.Trim()})");
            }
        }
    }
}
