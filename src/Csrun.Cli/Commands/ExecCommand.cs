using System.CommandLine;
using System.Text.Json;
using Csrun.Engine;
using Csrun.Oci;

namespace Csrun.Cli.Commands;

/// <summary>runc's `exec`: --process FILE (what containerd and conmon pass), or a command after the id
/// (put `--` before it when it has options of its own) with the container's process as the base.</summary>
internal static class ExecCommand
{
    public static Command Build()
    {
        var id = new Argument<string>("container-id");
        var command = StringArrays.Argument("command");
        var process = new Option<string?>("--process", "-p") { Description = "path to a process.json" };
        var env = StringArrays.Option("--env", ["-e"], "KEY=value to add");
        var cwd = new Option<string?>("--cwd") { Description = "working directory inside the container" };
        var user = new Option<string?>("--user", "-u") { Description = "UID[:GID]" };
        var gids = new Option<uint[]>("--additional-gids", "-g");
        var caps = StringArrays.Option("--cap", [], "add a capability (CAP_NET_ADMIN)");
        var noNewPrivs = new Option<bool>("--no-new-privs");
        var tty = new Option<bool>("--tty", "-t");
        var consoleSocket = new Option<string?>("--console-socket");
        var detach = new Option<bool>("--detach", "-d");
        var pidFile = new Option<string?>("--pid-file");
        var c = new Command("exec", "run a process in a running container")
        {
            id, command, process, env, cwd, user, gids, caps, noNewPrivs, tty, consoleSocket, detach, pidFile,
        };
        c.SetAction(p => GlobalOptions.Execute(p, "exec", rt =>
        {
            Process Edit(Process basis)
            {
                if (p.GetValue(process) is { } file)
                {
                    try
                    {
                        basis = JsonSerializer.Deserialize(File.ReadAllBytes(file), SpecJsonContext.Default.Process)
                            ?? throw new ContainerException($"--process: {file} is empty");
                    }
                    catch (JsonException e)
                    {
                        throw new ContainerException($"--process: invalid JSON at {e.Path}: {e.Message}");
                    }
                }
                else
                {
                    basis.Args = [.. p.GetValue(command) ?? []];
                    basis.Terminal = false;
                }
                if (p.GetValue(tty)) basis.Terminal = true;
                foreach (var kv in p.GetValue(env) ?? [])
                {
                    string key = kv.Split('=')[0] + "=";
                    (basis.Env ??= []).RemoveAll(e => e.StartsWith(key, StringComparison.Ordinal));
                    basis.Env.Add(kv);
                }
                if (p.GetValue(cwd) is { } d) basis.Cwd = d;
                if (p.GetValue(user) is { } u)
                {
                    var parts = u.Split(':');
                    if (!uint.TryParse(parts[0], out uint uid) || (parts.Length > 1 && !uint.TryParse(parts[1], out _)))
                        throw new ContainerException($"--user: \"{u}\" is not UID[:GID]");
                    basis.User = new User { Uid = uid, Gid = parts.Length > 1 ? uint.Parse(parts[1]) : 0, Umask = basis.User.Umask };
                }
                if (p.GetValue(gids) is { Length: > 0 } g) basis.User.AdditionalGids = [.. g];
                foreach (var cap in p.GetValue(caps) ?? [])
                {
                    if (Csrun.Linux.Capabilities.Parse(cap) < 0) throw new ContainerException($"--cap: unknown capability \"{cap}\"");
                    var set = basis.Capabilities ??= new LinuxCapabilities();
                    foreach (var list in new[] { set.Bounding ??= [], set.Effective ??= [], set.Permitted ??= [], set.Ambient ??= [] })
                    {
                        if (!list.Contains(cap)) list.Add(cap);
                    }
                }
                if (p.GetValue(noNewPrivs)) basis.NoNewPrivileges = true;
                return basis;
            }
            return rt.Exec(p.GetValue(id)!, Edit, p.GetValue(detach), p.GetValue(pidFile), p.GetValue(consoleSocket));
        }));
        return c;
    }
}
