using System.CommandLine;
using Csrun.Engine;

namespace Csrun.Cli.Commands;

internal static class CreateCommand
{
    public static readonly Argument<string> Id = new("container-id") { Description = "unique name of the container" };
    public static readonly Option<string> Bundle = new("--bundle", "-b") { Description = "path to the OCI bundle", DefaultValueFactory = _ => "." };
    public static readonly Option<string?> PidFile = new("--pid-file") { Description = "file to write the container's pid to" };
    public static readonly Option<string?> ConsoleSocket = new("--console-socket") { Description = "AF_UNIX socket to receive the pty master" };
    public static readonly Option<bool> NoPivot = new("--no-pivot") { Description = "use chroot instead of pivot_root (for ramdisk roots)" };
    public static readonly Option<bool> NoNewKeyring = new("--no-new-keyring") { Description = "keep the caller's session keyring" };
    public static readonly Option<int> PreserveFds = new("--preserve-fds") { Description = "pass N extra fds (3..3+N-1) to the container" };

    public static Command Build()
    {
        var c = new Command("create", "create a container; its process waits for `start`");
        c.Arguments.Add(Id);
        AddCreateOptions(c);
        c.SetAction(p => GlobalOptions.Execute(p, "create", rt => { rt.Create(Options(p, p.GetValue(Id)!)); return 0; }));
        return c;
    }

    public static void AddCreateOptions(Command c)
    {
        c.Options.Add(Bundle);
        c.Options.Add(PidFile);
        c.Options.Add(ConsoleSocket);
        c.Options.Add(NoPivot);
        c.Options.Add(NoNewKeyring);
        c.Options.Add(PreserveFds);
    }

    public static CreateOptions Options(ParseResult p, string id, string? bundle = null) => new(
        id, bundle ?? p.GetValue(Bundle)!, p.GetValue(PidFile), p.GetValue(ConsoleSocket),
        p.GetValue(NoPivot), p.GetValue(NoNewKeyring), p.GetValue(PreserveFds));
}
