using System.CommandLine;
using Csrun.Engine;

namespace Csrun.Cli;

/// <summary>runc's global flags. They may stand before the command, as engines pass them.</summary>
internal static class GlobalOptions
{
    public static readonly Option<string> Root = new("--root") { Description = "root directory for storage of container state", DefaultValueFactory = _ => Csrun.Engine.Rootless.DefaultRoot, Recursive = true };
    public static readonly Option<string?> LogFile = new("--log") { Description = "log file (default: stderr)", Recursive = true };
    public static readonly Option<string> LogFormat = new("--log-format") { Description = "log format: text or json", DefaultValueFactory = _ => "text", Recursive = true };
    public static readonly Option<bool> Debug = new("--debug") { Description = "enable debug logging", Recursive = true };
    public static readonly Option<bool> SystemdCgroup = new("--systemd-cgroup") { Description = "use systemd for cgroups (needs a running systemd)", Recursive = true };
    public static readonly Option<string?> Rootless = new("--rootless") { Description = "ignored: rootless mode is detected", Recursive = true };
    public static readonly Option<string?> Criu = new("--criu") { Description = "path to criu (unused)", Recursive = true, Hidden = true };

    public static IEnumerable<Option> All => [Root, LogFile, LogFormat, Debug, SystemdCgroup, Rootless, Criu];

    static GlobalOptions()
    {
        LogFormat.AcceptOnlyFromAmong("text", "json");
    }

    /// <summary>Configures logging, then runs the command; errors become one line on stderr and exit 1.</summary>
    public static int Execute(ParseResult p, string command, Func<ContainerRuntime, int> action)
    {
        Log.Configure(p.GetValue(LogFile), p.GetValue(LogFormat)!, p.GetValue(Debug));
        try
        {
            bool systemd = p.GetValue(SystemdCgroup);
            if (systemd && !Directory.Exists("/run/systemd/system"))
                throw new ContainerException("--systemd-cgroup: systemd is not running on this host; use the cgroupfs driver");
            return action(new ContainerRuntime(p.GetValue(Root)!, systemd));
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            return Report(command, e);
        }
    }

    /// <summary>For commands that need no container runtime (the image store).</summary>
    public static int ExecuteImages(ParseResult p, string command, Func<int> action)
    {
        Log.Configure(p.GetValue(LogFile), p.GetValue(LogFormat)!, p.GetValue(Debug));
        try
        {
            return action();
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            return Report(command, e);
        }
    }

    private static bool IsUserFacing(Exception e) => e is ContainerException or IOException or Csrun.Cgroups.CgroupException
        or UnauthorizedAccessException or Csrun.Images.Content.ImageException or HttpRequestException or OperationCanceledException;

    private static int Report(string command, Exception e)
    {
        Log.Error(e.Message);
        Console.Error.WriteLine($"csrun: {command}: {e.Message}");
        return 1;
    }
}

/// <summary>urfave/cli (runc's parser) accepts "-bundle" for "--bundle"; engines and scripts rely on it.</summary>
internal static class ArgsCompat
{
    private static readonly HashSet<string> LongNames =
    [
        "-root", "-log", "-log-format", "-debug", "-systemd-cgroup", "-rootless", "-bundle", "-pid-file",
        "-console-socket", "-no-pivot", "-no-new-keyring", "-preserve-fds", "-detach", "-all", "-force", "-format",
        "-quiet", "-keep", "-no-subreaper", "-criu",
    ];

    public static string[] Normalize(string[] args) => SplitImageCommand(LongFlags(args));

    private static string[] LongFlags(string[] args)
    {
        string[]? copy = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") break;
            int eq = a.IndexOf('=');
            string name = eq > 0 ? a[..eq] : a;
            if (LongNames.Contains(name))
            {
                copy ??= (string[])args.Clone();
                copy[i] = "-" + a;
            }
        }
        return copy ?? args;
    }

    private static readonly HashSet<string> HelpTokens = ["-h", "--help", "-?", "/?", "/h", "--version"];

    /// <summary>Whether a help or version option stands before a "--" (after it, it is the container's).</summary>
    public static bool AsksForHelp(string[] args)
    {
        foreach (string a in args)
        {
            if (a == "--") return false;
            if (HelpTokens.Contains(a)) return true;
        }
        return false;
    }

    private static readonly HashSet<string> ValuedGlobals = ["--root", "--log", "--log-format", "--rootless", "--criu"];

    /// <summary>The command word: the first argument that is neither a global option nor its value.</summary>
    public static string? CommandName(string[] args) => CommandIndex(args) is int i and >= 0 ? args[i] : null;

    private static int CommandIndex(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") return -1;
            if (!a.StartsWith('-')) return i;
            if (ValuedGlobals.Contains(a)) i++; // "--root X"; "--root=X" is one token
        }
        return -1;
    }

    /// <summary>docker run's shape: in `run ... --image REF CMD...` everything after REF is the container's
    /// command, flags included, so a "--" goes right after REF.</summary>
    private static string[] SplitImageCommand(string[] args)
    {
        int run = CommandIndex(args);
        if (run < 0 || args[run] != "run") return args;
        for (int i = run + 1; i < args.Length; i++)
        {
            if (args[i] == "--") return args;
            int after = args[i] == "--image" ? i + 2 : args[i].StartsWith("--image=", StringComparison.Ordinal) ? i + 1 : -1;
            if (after < 0) continue;
            if (after > args.Length || (after < args.Length && args[after] == "--")) return args;
            return [.. args[..after], "--", .. args[after..]];
        }
        return args;
    }
}
