using System.CommandLine;
using System.Text.Json;
using Csrun.Engine;
using Csrun.Oci;

namespace Csrun.Cli.Commands;

internal static class FeaturesCommand
{
    public static Command Build()
    {
        var c = new Command("features", "print the features this runtime supports, as JSON");
        c.SetAction(p => GlobalOptions.Execute(p, "features", _ =>
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(RuntimeFeatures.Get(), SpecJsonContext.Indented.Features));
            return 0;
        }));
        return c;
    }
}
