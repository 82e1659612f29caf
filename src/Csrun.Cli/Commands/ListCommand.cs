using System.CommandLine;
using System.Text.Json;

namespace Csrun.Cli.Commands;

internal static class ListCommand
{
    public static Command Build()
    {
        var format = new Option<string>("--format", "-f") { DefaultValueFactory = _ => "table", Description = "table or json" };
        format.AcceptOnlyFromAmong("table", "json");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "print only the ids" };
        var c = new Command("list", "list the containers under --root") { format, quiet };
        c.Aliases.Add("ps-all");
        c.SetAction(p => GlobalOptions.Execute(p, "list", rt =>
        {
            var list = rt.List();
            if (p.GetValue(quiet))
            {
                foreach (var s in list) Console.Out.WriteLine(s.Id);
            }
            else if (p.GetValue(format) == "json")
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(list, CliJsonContext.Default.ListRuncState));
            }
            else
            {
                var rows = new List<string[]> { new[] { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" } };
                foreach (var s in list) rows.Add([s.Id, s.Pid.ToString(), s.Status, s.Bundle, s.Created, s.Owner]);
                int[] w = new int[6];
                foreach (var r in rows) for (int i = 0; i < 6; i++) w[i] = Math.Max(w[i], r[i].Length);
                foreach (var r in rows)
                {
                    Console.Out.WriteLine(string.Join("   ", r.Select((v, i) => i == 5 ? v : v.PadRight(w[i]))));
                }
            }
            return 0;
        }));
        return c;
    }
}
