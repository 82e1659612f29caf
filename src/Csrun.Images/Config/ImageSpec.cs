using Csrun.Images.Content;
using Csrun.Oci;

namespace Csrun.Images.Config;

/// <summary>A bind mount asked for on the command line (-v SRC:DST[:ro]).</summary>
public sealed record VolumeMount(string Source, string Destination, bool ReadOnly)
{
    public static VolumeMount Parse(string s)
    {
        var parts = s.Split(':');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || !parts[1].StartsWith('/'))
            throw new ImageException($"volume \"{s}\": want SOURCE:/DESTINATION[:ro|rw]");
        bool ro = parts.Length == 3 && (parts[2] == "ro" ? true : parts[2] == "rw" ? false
            : throw new ImageException($"volume \"{s}\": mode must be ro or rw"));
        return new VolumeMount(Path.GetFullPath(parts[0]), parts[1], ro);
    }
}

/// <summary>What the user asks for on top of the image (docker run's options).</summary>
public sealed record RunOverrides
{
    /// <summary>Replaces the image's Cmd (the Entrypoint stays, as with docker run IMAGE CMD...).</summary>
    public IReadOnlyList<string>? Command { get; init; }
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public IReadOnlyList<string> Env { get; init; } = [];
    public string? WorkingDir { get; init; }
    public string? User { get; init; }
    public IReadOnlyList<VolumeMount> Volumes { get; init; } = [];
    public bool Terminal { get; init; }
    public string? Hostname { get; init; }
}

/// <summary>
/// Merges an image config into a runtime spec, following image-spec's conversion.md: Entrypoint+Cmd → args,
/// Env merged by name, WorkingDir → cwd, User resolved against the image's passwd/group, Labels,
/// ExposedPorts and StopSignal → annotations, Volumes → mounts of fresh directories.
/// </summary>
public static class ImageSpec
{
    public const string ExposedPortsAnnotation = "org.opencontainers.image.exposedPorts";
    public const string StopSignalAnnotation = "org.opencontainers.image.stopSignal";

    /// <param name="volumeDir">Makes the host directory behind one of the image's Volumes.</param>
    public static void Apply(Spec spec, ImageConfigFile image, string rootfs, RunOverrides o, Func<string, string> volumeDir)
    {
        var c = image.Config ?? new ContainerConfig();
        var p = spec.Process ??= new Process();

        var entry = o.Entrypoint ?? c.Entrypoint ?? [];
        // docker: a new --entrypoint drops the image's Cmd; a command replaces Cmd.
        var cmd = o.Command is { Count: > 0 } ? o.Command : o.Entrypoint is not null ? [] : c.Cmd ?? [];
        p.Args = [.. entry, .. cmd];
        if (p.Args.Count == 0)
            throw new ImageException("no command: the image has neither Entrypoint nor Cmd; give one after the image");

        p.Env = MergeEnv(p.Env ?? [], c.Env ?? [], o.Env);
        p.Cwd = o.WorkingDir ?? (string.IsNullOrEmpty(c.WorkingDir) ? "/" : c.WorkingDir);
        if (!p.Cwd.StartsWith('/')) throw new ImageException($"working directory \"{p.Cwd}\": must be absolute");
        p.Terminal = o.Terminal;

        var user = UserResolver.Resolve(o.User ?? c.User, rootfs);
        p.User = new User { Uid = user.Uid, Gid = user.Gid, AdditionalGids = user.AdditionalGids.Count > 0 ? [.. user.AdditionalGids] : null };
        if (user.Home is { Length: > 0 } && !p.Env.Exists(e => e.StartsWith("HOME=", StringComparison.Ordinal)))
            p.Env.Add("HOME=" + user.Home);
        if (o.Hostname is not null) spec.Hostname = o.Hostname;

        var ann = spec.Annotations ??= [];
        if (c.Labels is not null)
            foreach (var (k, v) in c.Labels) ann.TryAdd(k, v);
        if (c.ExposedPorts is { Count: > 0 }) ann[ExposedPortsAnnotation] = string.Join(',', c.ExposedPorts.Keys.Order(StringComparer.Ordinal));
        if (!string.IsNullOrEmpty(c.StopSignal)) ann[StopSignalAnnotation] = c.StopSignal;
        ann["org.opencontainers.image.os"] = image.Os;
        ann["org.opencontainers.image.architecture"] = image.Architecture;
        if (image.Author is { Length: > 0 }) ann["org.opencontainers.image.author"] = image.Author;
        if (image.Created is { Length: > 0 }) ann["org.opencontainers.image.created"] = image.Created;

        var mounts = spec.Mounts ??= [];
        foreach (var v in (c.Volumes?.Keys ?? Enumerable.Empty<string>()).Order(StringComparer.Ordinal))
        {
            if (o.Volumes.Any(m => m.Destination.TrimEnd('/') == v.TrimEnd('/'))) continue;
            mounts.Add(new Mount { Destination = v, Type = "bind", Source = volumeDir(v), Options = ["rbind", "rw"] });
        }
        foreach (var v in o.Volumes)
        {
            if (!Directory.Exists(v.Source) && !File.Exists(v.Source))
                throw new ImageException($"volume source \"{v.Source}\": no such file or directory");
            mounts.Add(new Mount { Destination = v.Destination, Type = "bind", Source = v.Source, Options = ["rbind", v.ReadOnly ? "ro" : "rw"] });
        }
    }

    /// <summary>Later lists override earlier ones by variable name, keeping first-seen order.</summary>
    public static List<string> MergeEnv(params IEnumerable<string>[] lists)
    {
        var result = new List<string>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var list in lists)
            foreach (var e in list)
            {
                int eq = e.IndexOf('=');
                string key = eq < 0 ? e : e[..eq];
                if (key.Length == 0) throw new ImageException($"environment \"{e}\": empty variable name");
                if (index.TryGetValue(key, out int at)) result[at] = e;
                else { index[key] = result.Count; result.Add(e); }
            }
        return result;
    }
}
