using System.CommandLine;
using Csrun.Engine;
using Csrun.Engine.Specs;
using Csrun.Images.Bundles;
using Csrun.Images.Config;
using Csrun.Images.Content;
using Csrun.Images.Store;

namespace Csrun.Cli.Commands;

/// <summary>`run ID` from a bundle as runc does, or `run [OPTIONS] --image REF [COMMAND...]` as docker run does.</summary>
internal static class RunCommand
{
    private static readonly Option<bool> Detach = new("--detach", "-d") { Description = "detach from the container's process" };
    private static readonly Option<bool> Keep = new("--keep") { Description = "keep the container (stopped) after it exits, until `delete`" };
    private static readonly Option<bool> NoSubreaper = new("--no-subreaper") { Description = "accepted for runc compatibility", Hidden = true };
    private static readonly Argument<string[]> Args = StringArrays.Argument("container-id", "the container's id; with --image, the command to run instead");

    private static readonly Option<string?> Image = new("--image") { Description = "run this image (pulled if missing); options for it go before --image, the command after it" };
    private static readonly Option<string?> Name = new("--name") { Description = "container id with --image (default: a random one)" };
    private static readonly Option<bool> Rm = new("--rm") { Description = "with --image: delete the container, its snapshot and bundle when it exits" };
    private static readonly Option<string[]> Env = StringArrays.Option("--env", ["-e"], "with --image: set VAR=value");
    private static readonly Option<string[]> Volume = StringArrays.Option("--volume", ["-v"], "with --image: bind mount SRC:DST[:ro]");
    private static readonly Option<string?> Workdir = new("--workdir", "-w") { Description = "with --image: working directory" };
    private static readonly Option<string?> User = new("--user", "-u") { Description = "with --image: user[:group], names or ids" };
    private static readonly Option<bool> Tty = new("--tty", "-t") { Description = "with --image: give the process a terminal" };
    private static readonly Option<string?> Entrypoint = new("--entrypoint") { Description = "with --image: replace the image's entrypoint" };
    private static readonly Option<string?> Hostname = new("--hostname") { Description = "with --image: the container's hostname" };
    private static readonly Option<string> PullPolicy = new("--pull") { Description = "with --image: missing, always or never", DefaultValueFactory = _ => "missing" };

    public static Command Build()
    {
        var c = new Command("run", "create and start a container, wait for it and return its exit code");
        c.Arguments.Add(Args);
        CreateCommand.AddCreateOptions(c);
        foreach (var o in new Option[] { Detach, Keep, NoSubreaper, Image, Name, Rm, Env, Volume, Workdir, User, Tty, Entrypoint, Hostname, PullPolicy })
            c.Options.Add(o);
        c.Options.Add(ImageOptions.ImageRoot);
        ImageOptions.AddPullOptions(c);
        PullPolicy.AcceptOnlyFromAmong("missing", "always", "never");
        c.SetAction(p => GlobalOptions.Execute(p, "run", rt => p.GetValue(Image) is { } image ? RunImage(p, rt, image) : RunBundle(p, rt)));
        return c;
    }

    private static int RunBundle(ParseResult p, ContainerRuntime rt)
    {
        var args = p.GetValue(Args)!;
        if (args.Length != 1) throw new ContainerException(args.Length == 0 ? "container id: missing" : $"unexpected arguments after the container id: {string.Join(' ', args[1..])} (a command needs --image)");
        foreach (var o in new Option[] { Name, Rm, Env, Volume, Workdir, User, Tty, Entrypoint, Hostname })
            if (p.GetResult(o) is { Implicit: false }) throw new ContainerException($"{o.Name}: only with --image");
        var opts = CreateCommand.Options(p, args[0]);
        if (p.GetValue(Detach))
        {
            rt.RunDetached(opts);
            return 0;
        }
        return rt.Run(opts, p.GetValue(Keep));
    }

    private static int RunImage(ParseResult p, ContainerRuntime rt, string reference)
    {
        bool rm = p.GetValue(Rm), detach = p.GetValue(Detach);
        if (rm && detach) throw new ContainerException("--rm with --detach: not supported; remove the container with `csrun delete`");
        if (p.GetResult(CreateCommand.Bundle) is { Implicit: false }) throw new ContainerException("--bundle: not with --image (the image makes the bundle)");
        string id = p.GetValue(Name) ?? Convert.ToHexStringLower(Guid.NewGuid().ToByteArray())[..12];
        if (rt.Store.Exists(id)) throw new ContainerException($"container \"{id}\" already exists");

        var store = ImageOptions.Store(p);
        var platform = ImageOptions.Platform(p);
        var image = p.GetValue(PullPolicy) switch
        {
            "always" => ImageOptions.Pull(p, store, reference),
            "never" => store.Require(reference, platform),
            _ => store.Find(reference, platform) ?? ImageOptions.Pull(p, store, reference),
        };
        var overrides = new RunOverrides
        {
            Command = p.GetValue(Args) is { Length: > 0 } cmd ? cmd : null,
            Entrypoint = p.GetValue(Entrypoint) is { } ep ? (ep.Length == 0 ? [] : [ep]) : null,
            Env = p.GetValue(Env) ?? [],
            WorkingDir = p.GetValue(Workdir),
            User = p.GetValue(User),
            Volumes = (p.GetValue(Volume) ?? []).Select(VolumeMount.Parse).ToList(),
            Terminal = p.GetValue(Tty),
            Hostname = p.GetValue(Hostname),
        };
        bool rootless = Csrun.Linux.Libc.GetEuid() != 0;
        var bundles = new ImageBundles(store);
        string bundle = bundles.Create(id, image, DefaultSpec.Create(rootless), overrides, rootless);
        bool created = false;
        try
        {
            var opts = CreateCommand.Options(p, id, bundle);
            if (detach)
            {
                rt.RunDetached(opts);
                created = true;
                Console.Out.WriteLine(id);
                return 0;
            }
            created = true;
            int code = rt.Run(opts, keep: !rm);
            if (rm) bundles.Release(id);
            return code;
        }
        catch when (!created || !rt.Store.Exists(id))
        {
            bundles.Release(id);
            throw;
        }
    }
}
