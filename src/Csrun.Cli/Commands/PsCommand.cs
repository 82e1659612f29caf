using System.CommandLine;
using System.Diagnostics;

namespace Csrun.Cli.Commands;

/// <summary>runc's `ps`: json prints the pid array; table runs ps(1) with the given options and keeps the
/// header and the container's processes.</summary>
internal static class PsCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var psArgs = StringArrays.Argument("ps-options", "options for ps(1), default -ef");
        var format = new Option<string>("--format", "-f") { DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong("table", "json");
        var c = new Command("ps", "list the processes running in a container") { id, psArgs, format };
        c.TreatUnmatchedTokensAsErrors = false;
        c.SetAction(p => GlobalOptions.Execute(p, "ps", rt =>
        {
            var pids = rt.Pids(p.GetValue(id)!);
            if (p.GetValue(format) == "json")
            {
                Console.Out.WriteLine("[" + string.Join(",", pids) + "]");
                return 0;
            }
            var args = p.GetValue(psArgs) is { Length: > 0 } a ? a : ["-ef"];
            var psi = new ProcessStartInfo("ps") { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var arg in args.Concat(p.UnmatchedTokens)) psi.ArgumentList.Add(arg);
            using var ps = Process.Start(psi) ?? throw new Engine.ContainerException("cannot run ps");
            var lines = ps.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            ps.WaitForExit();
            if (lines.Length == 0) return ps.ExitCode;
            int pidColumn = Array.IndexOf(lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries), "PID");
            if (pidColumn < 0) throw new Engine.ContainerException("ps output has no PID column");
            var wanted = new HashSet<int>(pids);
            Console.Out.WriteLine(lines[0]);
            foreach (var line in lines.Skip(1))
            {
                var cols = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (cols.Length > pidColumn && int.TryParse(cols[pidColumn], out int pid) && wanted.Contains(pid)) Console.Out.WriteLine(line);
            }
            return 0;
        }));
        return c;
    }
}
