using System.CommandLine;

namespace Csrun.Cli.Commands;

internal static class StartCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var c = new Command("start", "start the user process of a created container") { id };
        c.SetAction(p => GlobalOptions.Execute(p, "start", rt => { rt.Start(p.GetValue(id)!); return 0; }));
        return c;
    }
}
