using System.CommandLine;
using System.Text.Json;
using Csrun.Engine;
using Csrun.Engine.Specs;
using Csrun.Oci;

namespace Csrun.Cli.Commands;

internal static class SpecCommand
{
    public static Command Build()
    {
        var bundle = new Option<string>("--bundle", "-b") { DefaultValueFactory = _ => ".", Description = "where to write config.json" };
        var rootless = new Option<bool>("--rootless") { Description = "a spec for a rootless container" };
        var c = new Command("spec", "write a default config.json") { bundle, rootless };
        c.SetAction(p => GlobalOptions.Execute(p, "spec", _ =>
        {
            string path = Path.Combine(p.GetValue(bundle)!, "config.json");
            if (File.Exists(path)) throw new ContainerException($"File {path} exists. Remove it first");
            var spec = DefaultSpec.Create(p.GetValue(rootless));
            File.WriteAllText(path, JsonSerializer.Serialize(spec, SpecJsonContext.Indented.Spec) + "\n");
            return 0;
        }));
        return c;
    }
}
