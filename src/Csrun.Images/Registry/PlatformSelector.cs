using System.Runtime.InteropServices;
using Csrun.Images.Content;

namespace Csrun.Images.Registry;

/// <summary>Chooses one manifest of an OCI index or Docker manifest list, with containerd's platform matching.</summary>
public static class PlatformSelector
{
    public static Platform Default { get; } = new()
    {
        Os = "linux",
        Architecture = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "amd64",
            Architecture.Arm64 => "arm64",
            Architecture.Arm => "arm",
            Architecture.X86 => "386",
            Architecture.S390x => "s390x",
            Architecture.Ppc64le => "ppc64le",
            Architecture.RiscV64 => "riscv64",
            Architecture.LoongArch64 => "loong64",
            var a => a.ToString().ToLowerInvariant(),
        },
        Variant = RuntimeInformation.OSArchitecture switch { Architecture.Arm64 => "v8", Architecture.Arm => "v7", _ => null },
    };

    /// <summary>"os/arch[/variant]", e.g. linux/arm64/v8; "arch" alone means linux/arch.</summary>
    public static Platform Parse(string s)
    {
        var p = s.Split('/');
        if (p.Length > 3 || p.Any(x => x.Length == 0))
            throw new ImageException($"platform \"{s}\": want os/arch[/variant], e.g. linux/arm64/v8");
        return p.Length == 1
            ? new Platform { Os = "linux", Architecture = NormalizeArch(p[0]) }
            : new Platform { Os = p[0].ToLowerInvariant(), Architecture = NormalizeArch(p[1]), Variant = p.Length == 3 ? p[2] : null };
    }

    private static string NormalizeArch(string a) => a.ToLowerInvariant() switch
    {
        "x86_64" or "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        var x => x,
    };

    /// <summary>The variant an architecture implies when none is given (docker: arm64 is v8, arm is v7).</summary>
    private static string DefaultVariant(string arch) => arch switch { "arm64" => "v8", "arm" => "v7", _ => "" };

    public static Descriptor? Select(ImageIndex index, Platform wanted)
    {
        string want = string.IsNullOrEmpty(wanted.Variant) ? DefaultVariant(wanted.Architecture) : wanted.Variant;
        Descriptor? fallback = null;
        foreach (var m in index.Manifests)
        {
            if (m.Platform is not { } p || !MediaTypes.IsManifest(m.MediaType)) continue;
            if (p.Os != wanted.Os || p.Architecture != wanted.Architecture) continue;
            string have = string.IsNullOrEmpty(p.Variant) ? DefaultVariant(p.Architecture) : p.Variant;
            if (have == want) return m;
            // No variant asked for: any variant of the architecture will do if none matches the default.
            if (string.IsNullOrEmpty(wanted.Variant)) fallback ??= m;
        }
        return fallback;
    }
}
