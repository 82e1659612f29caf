using System.CommandLine;
using Csrun.Cli;
using Csrun.Cli.Commands;

var root = new RootCommand("csrun: an OCI container runtime (runc-compatible command line)");
foreach (var o in GlobalOptions.All) root.Options.Add(o);
root.Subcommands.Add(CreateCommand.Build());
root.Subcommands.Add(StartCommand.Build());
root.Subcommands.Add(RunCommand.Build());
root.Subcommands.Add(StateCommand.Build());
root.Subcommands.Add(KillCommand.Build());
root.Subcommands.Add(DeleteCommand.Build());
root.Subcommands.Add(ListCommand.Build());
root.Subcommands.Add(SpecCommand.Build());
root.Subcommands.Add(FeaturesCommand.Build());
return root.Parse(ArgsCompat.Normalize(args)).Invoke();
