using System.CommandLine;

namespace Csrun.Cli.Commands;

internal static class RunCommand
{
    private static readonly Option<bool> Detach = new("--detach", "-d") { Description = "detach from the container's process" };
    private static readonly Option<bool> Keep = new("--keep") { Description = "accepted for runc compatibility", Hidden = true };
    private static readonly Option<bool> NoSubreaper = new("--no-subreaper") { Description = "accepted for runc compatibility", Hidden = true };

    public static Command Build()
    {
        var c = new Command("run", "create and start a container, wait for it and return its exit code");
        CreateCommand.AddCreateOptions(c);
        c.Options.Add(Detach);
        c.Options.Add(Keep);
        c.Options.Add(NoSubreaper);
        c.SetAction(p => GlobalOptions.Execute(p, "run", rt =>
        {
            var o = CreateCommand.Options(p);
            if (p.GetValue(Detach))
            {
                rt.RunDetached(o);
                return 0;
            }
            return rt.Run(o);
        }));
        return c;
    }
}
