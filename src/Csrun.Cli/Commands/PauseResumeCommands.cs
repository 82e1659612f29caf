using System.CommandLine;

namespace Csrun.Cli.Commands;

internal static class PauseCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var c = new Command("pause", "freeze every process of the container") { id };
        c.SetAction(p => GlobalOptions.Execute(p, "pause", rt => { rt.Pause(p.GetValue(id)!); return 0; }));
        return c;
    }
}

internal static class ResumeCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var c = new Command("resume", "thaw a paused container") { id };
        c.SetAction(p => GlobalOptions.Execute(p, "resume", rt => { rt.Resume(p.GetValue(id)!); return 0; }));
        return c;
    }
}
