using System.Text.RegularExpressions;
using Csrun.Images.Content;

namespace Csrun.Images.Registry;

/// <summary>
/// An image reference normalized as docker does: "busybox" is docker.io/library/busybox:latest, "user/app" is
/// docker.io/user/app, and a first component with a '.' or ':' or named localhost is a registry host.
/// </summary>
public sealed partial record ImageReference(string Registry, string Repository, string? Tag, Digest? Digest)
{
    public const string DockerHub = "docker.io";

    // distribution/reference's grammar.
    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$")]
    private static partial Regex PathPattern();

    [GeneratedRegex(@"^[\w][\w.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$")]
    private static partial Regex HostPattern();

    public string Name => $"{Registry}/{Repository}";

    /// <summary>What to ask the registry for: the digest when there is one, else the tag.</summary>
    public string ManifestReference => Digest?.ToString() ?? Tag ?? "latest";

    public override string ToString() =>
        Name + (Tag is not null ? ":" + Tag : "") + (Digest is { } d ? "@" + d : "");

    public static ImageReference Parse(string s)
    {
        if (string.IsNullOrWhiteSpace(s)) throw new ImageException("image reference: empty");
        string rest = s;
        Digest? digest = null;
        int at = rest.IndexOf('@');
        if (at >= 0)
        {
            if (!Content.Digest.TryParse(rest[(at + 1)..], out var d))
                throw new ImageException($"image reference \"{s}\": invalid digest \"{rest[(at + 1)..]}\"");
            digest = d;
            rest = rest[..at];
        }
        string? tag = null;
        int colon = rest.LastIndexOf(':');
        if (colon > rest.LastIndexOf('/'))
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!TagPattern().IsMatch(tag)) throw new ImageException($"image reference \"{s}\": invalid tag \"{tag}\"");
        }

        string registry = DockerHub, path = rest;
        int slash = rest.IndexOf('/');
        if (slash > 0)
        {
            string first = rest[..slash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost" || first.Any(char.IsAsciiLetterUpper))
            {
                if (!HostPattern().IsMatch(first)) throw new ImageException($"image reference \"{s}\": invalid registry host \"{first}\"");
                registry = first;
                path = rest[(slash + 1)..];
            }
        }
        if (registry is "index.docker.io" or "registry-1.docker.io") registry = DockerHub;
        if (path.Any(char.IsAsciiLetterUpper))
            throw new ImageException($"image reference \"{s}\": repository name must be lowercase");
        if (!PathPattern().IsMatch(path)) throw new ImageException($"image reference \"{s}\": invalid repository name \"{path}\"");
        if (registry == DockerHub && !path.Contains('/')) path = "library/" + path;
        if (tag is null && digest is null) tag = "latest";
        return new ImageReference(registry, path, tag, digest);
    }
}
