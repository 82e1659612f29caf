using Csrun.Images.Content;

namespace Csrun.Images.Config;

public sealed record ResolvedUser(uint Uid, uint Gid, IReadOnlyList<uint> AdditionalGids, string? Home);

/// <summary>
/// Turns an image's or a user's "user[:group]" (names or numbers) into ids, from the rootfs's /etc/passwd and
/// /etc/group as docker does: a numeric uid missing from passwd is allowed (gid 0), a name must exist, and the
/// user's supplementary groups come from /etc/group.
/// </summary>
public static class UserResolver
{
    public static ResolvedUser Resolve(string? spec, string rootfs)
    {
        if (string.IsNullOrEmpty(spec)) spec = "0";
        int colon = spec.IndexOf(':');
        string userPart = colon < 0 ? spec : spec[..colon];
        string? groupPart = colon < 0 ? null : spec[(colon + 1)..];
        var passwd = Parse(RootfsFiles.ReadAllText(rootfs, "/etc/passwd"));
        var groups = Parse(RootfsFiles.ReadAllText(rootfs, "/etc/group"));

        uint uid, gid = 0;
        string? home = null, userName = null;
        bool numericUser = uint.TryParse(userPart, out uid);
        var pw = passwd.FirstOrDefault(f => f.Length >= 7 && (numericUser ? f[2] == userPart : f[0] == userPart));
        if (pw is not null)
        {
            uid = uint.Parse(pw[2]);
            gid = uint.TryParse(pw[3], out var g) ? g : 0;
            home = pw[5];
            userName = pw[0];
        }
        else if (!numericUser)
            throw new ImageException($"user \"{userPart}\": no such user in the image's /etc/passwd");

        if (!string.IsNullOrEmpty(groupPart))
        {
            if (!uint.TryParse(groupPart, out gid))
            {
                var gr = groups.FirstOrDefault(f => f.Length >= 3 && f[0] == groupPart)
                    ?? throw new ImageException($"group \"{groupPart}\": no such group in the image's /etc/group");
                gid = uint.Parse(gr[2]);
            }
        }

        // Supplementary groups only when the group was not given explicitly (docker's rule).
        var extra = new List<uint>();
        if (userName is not null && string.IsNullOrEmpty(groupPart))
            foreach (var gr in groups)
                if (gr.Length >= 4 && uint.TryParse(gr[2], out var g) && g != gid && gr[3].Split(',').Contains(userName))
                    extra.Add(g);
        return new ResolvedUser(uid, gid, extra, home);
    }

    private static List<string[]> Parse(string? text) =>
        text is null ? [] : text.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(':')).ToList();
}
