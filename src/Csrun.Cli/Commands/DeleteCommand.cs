using System.CommandLine;
using Csrun.Engine;
using Csrun.Images.Bundles;

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
            string cid = p.GetValue(id)!;
            string? bundle = rt.Store.Exists(cid) ? TryBundle(rt, cid) : null;
            try
            {
                rt.Delete(cid, p.GetValue(force));
                // A container run from an image: its rootfs snapshot and bundle go with it.
                if (ImageBundles.ForBundle(bundle) is { } owner) owner.Release(cid);
            }
            catch (ContainerException) when (p.GetValue(force) && !Directory.Exists(rt.Store.DirOf(p.GetValue(id)!)))
            {
                // runc: `delete --force` of a container that does not exist succeeds.
            }
            return 0;
        }));
        return c;
    }

    private static string? TryBundle(ContainerRuntime rt, string id)
    {
        try { return rt.State(id).Bundle; }
        catch (Exception e) when (e is ContainerException or IOException) { return null; }
    }
}
