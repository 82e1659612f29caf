using System.CommandLine;
using System.Text.Json;
using Csrun.Engine;

namespace Csrun.Cli.Commands;

internal static class StateCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var c = new Command("state", "print the state of a container as JSON") { id };
        c.SetAction(p => GlobalOptions.Execute(p, "state", rt =>
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(rt.State(p.GetValue(id)!), CliJsonContext.Default.RuncState));
            return 0;
        }));
        return c;
    }
}
