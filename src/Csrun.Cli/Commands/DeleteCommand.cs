using System.CommandLine;
using Csrun.Engine;

namespace Csrun.Cli.Commands;

internal static class DeleteCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var force = new Option<bool>("--force", "-f") { Description = "kill the container first if it still runs" };
        var c = new Command("delete", "delete a container and everything the runtime holds for it") { id, force };
        c.SetAction(p => GlobalOptions.Execute(p, "delete", rt =>
        {
            try
            {
                rt.Delete(p.GetValue(id)!, p.GetValue(force));
            }
            catch (ContainerException) when (p.GetValue(force) && !Directory.Exists(rt.Store.DirOf(p.GetValue(id)!)))
            {
                // runc: `delete --force` of a container that does not exist succeeds.
            }
            return 0;
        }));
        return c;
    }
}
