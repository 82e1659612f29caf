using System.Buffers;
using System.CommandLine;
using System.Text.Json;
using Csrun.Cgroups;
using Csrun.Engine;

namespace Csrun.Cli.Commands;

/// <summary>runc's `events`: `--stats` prints one stats event; otherwise a stats event every --interval
/// until the container stops. Events are runc's JSON ({"type":"stats","id":…,"data":{…}}), one per line.</summary>
internal static class EventsCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var stats = new Option<bool>("--stats") { Description = "print the container's stats once and exit" };
        var interval = new Option<string>("--interval") { DefaultValueFactory = _ => "5s", Description = "time between stats events (5s, 500ms)" };
        var c = new Command("events", "print the container's resource usage as JSON events") { id, stats, interval };
        c.SetAction(p => GlobalOptions.Execute(p, "events", rt =>
        {
            string cid = p.GetValue(id)!;
            if (p.GetValue(stats))
            {
                var s = rt.Stats(cid) ?? throw new ContainerException($"container {cid} is not running");
                Console.Out.WriteLine(Render(cid, s));
                return 0;
            }
            var every = ParseDuration(p.GetValue(interval)!);
            ulong? oomKills = null;
            while (rt.Stats(cid) is { } s)
            {
                // runc emits {"type":"oom"} when the kernel's OOM killer struck the container since the last look.
                if (s.OomKills is ulong k && oomKills is ulong before && k > before) Console.Out.WriteLine(OomEvent(cid));
                oomKills = s.OomKills ?? oomKills;
                Console.Out.WriteLine(Render(cid, s));
                Console.Out.Flush();
                Thread.Sleep(every);
            }
            // Stopped: a kill in the last interval (often what stopped it) is still counted in its cgroup.
            if (oomKills is ulong last && rt.OomKills(cid) is ulong final && final > last) Console.Out.WriteLine(OomEvent(cid));
            return 0;
        }));
        return c;
    }

    internal static TimeSpan ParseDuration(string text)
    {
        string t = text.Trim();
        (string num, double scale) = t.EndsWith("ms", StringComparison.Ordinal) ? (t[..^2], 1.0)
            : t.EndsWith('s') ? (t[..^1], 1000.0) : t.EndsWith('m') ? (t[..^1], 60000.0) : (t, 1000.0);
        if (!double.TryParse(num, System.Globalization.CultureInfo.InvariantCulture, out double v) || v <= 0)
            throw new ContainerException($"--interval: invalid duration \"{text}\"");
        return TimeSpan.FromMilliseconds(v * scale);
    }

    private static string OomEvent(string id) => $"{{\"type\":\"oom\",\"id\":{JsonSerializer.Serialize(id, CliJsonContext.Default.String)}}}";

    private static string Render(string id, CgroupStats s)
    {
        var buf = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buf))
        {
            w.WriteStartObject();
            w.WriteString("type", "stats");
            w.WriteString("id", id);
            w.WriteStartObject("data");
            w.WriteStartObject("cpu");
            w.WriteStartObject("usage");
            w.WriteNumber("total", s.CpuUsageNanoseconds ?? 0);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("memory");
            w.WriteStartObject("usage");
            w.WriteNumber("usage", s.MemoryUsageBytes ?? 0);
            w.WriteNumber("max", s.MemoryMaxUsageBytes ?? 0);
            w.WriteNumber("limit", s.MemoryLimitBytes ?? ulong.MaxValue);
            w.WriteEndObject();
            w.WriteStartObject("swap");
            w.WriteNumber("usage", s.SwapUsageBytes ?? 0);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("pids");
            w.WriteNumber("current", s.PidsCurrent ?? 0);
            w.WriteNumber("limit", s.PidsLimit ?? 0);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buf.WrittenSpan);
    }
}
