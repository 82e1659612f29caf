using System.CommandLine;
using Csrun.Engine;
using Csrun.Linux;

namespace Csrun.Cli.Commands;

internal static class KillCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var signal = new Argument<string>("signal") { DefaultValueFactory = _ => "SIGTERM", Description = "name (TERM, SIGKILL) or number" };
        var all = new Option<bool>("--all", "-a") { Description = "send the signal to every process in the container" };
        var c = new Command("kill", "send a signal to the container's init process") { id, signal, all };
        c.SetAction(p => GlobalOptions.Execute(p, "kill", rt =>
        {
            string s = p.GetValue(signal)!;
            if (!Signals.TryParse(s, out int sig)) throw new ContainerException($"unknown signal \"{s}\"");
            rt.Kill(p.GetValue(id)!, sig, p.GetValue(all));
            return 0;
        }));
        return c;
    }
}
