using System.CommandLine;
using Csrun.Cli;
using Csrun.Cli.Commands;
using Csrun.Engine;

// Every command, by name and aliases. Only the one being run is built: constructing the whole tree (the
// image commands and run's image options included) costs the start path page faults for nothing.
(string[] Names, Func<Command> Build)[] commands =
[
    (["create"], CreateCommand.Build), (["start"], StartCommand.Build), (["run"], RunCommand.Build),
    (["state"], StateCommand.Build), (["kill"], KillCommand.Build), (["delete"], DeleteCommand.Build),
    (["list", "ps-all"], ListCommand.Build), (["spec"], SpecCommand.Build), (["features"], FeaturesCommand.Build),
    (["pause"], PauseCommand.Build), (["resume"], ResumeCommand.Build), (["ps"], PsCommand.Build),
    (["update"], UpdateCommand.Build), (["exec"], ExecCommand.Build), (["events"], EventsCommand.Build),
    (["checkpoint"], CheckpointCommands.Checkpoint), (["restore"], CheckpointCommands.Restore), (["image"], ImageCommands.Build),
];

// With CSRUN_T0 (the caller's CLOCK_MONOTONIC at spawn), the first phase is exec, the loader and the runtime's start.
PhaseTimer.Mark("exec to Main");
args = ArgsCompat.Normalize(args);
// RootCommand's help and version options fetch their texts through a ResourceManager (reflection over
// assembly attributes): ~60% of Main's start-up time. They are only built when asked for or when usage
// must be shown.
string? name = ArgsCompat.CommandName(args);
Command root = name is null || ArgsCompat.AsksForHelp(args)
    ? new RootCommand("csrun: an OCI container runtime (runc-compatible command line)")
    : new Command("csrun");
foreach (var o in GlobalOptions.All) root.Options.Add(o);
var chosen = Array.Find(commands, c => name is not null && c.Names.Contains(name));
if (chosen.Build is not null) root.Subcommands.Add(chosen.Build());
else foreach (var c in commands) root.Subcommands.Add(c.Build()); // help, or an unknown command to report
return root.Parse(args).Invoke();
