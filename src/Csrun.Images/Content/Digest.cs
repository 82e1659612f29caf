using System.Security.Cryptography;

namespace Csrun.Images.Content;

/// <summary>An OCI content digest ("sha256:&lt;64 hex&gt;" or "sha512:&lt;128 hex&gt;"), validated on construction.</summary>
public readonly record struct Digest
{
    public string Algorithm { get; }
    public string Hex { get; }

    private Digest(string algorithm, string hex) { Algorithm = algorithm; Hex = hex; }

    public static Digest Parse(string value, string what = "digest") =>
        TryParse(value, out var d) ? d : throw new ImageException($"{what}: invalid digest \"{value}\" (want sha256:<64 hex digits>)");

    public static bool TryParse(string? value, out Digest digest)
    {
        digest = default;
        if (value is null) return false;
        int colon = value.IndexOf(':');
        if (colon <= 0) return false;
        string alg = value[..colon], hex = value[(colon + 1)..];
        int want = alg switch { "sha256" => 64, "sha512" => 128, _ => -1 };
        if (hex.Length != want) return false;
        foreach (char c in hex)
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return false;
        digest = new Digest(alg, hex);
        return true;
    }

    public static Digest Sha256(ReadOnlySpan<byte> data) => new("sha256", Convert.ToHexStringLower(SHA256.HashData(data)));

    public static Digest Sha256(Stream data) => new("sha256", Convert.ToHexStringLower(SHA256.HashData(data)));

    internal static Digest FromHash(string algorithm, byte[] hash) => new(algorithm, Convert.ToHexStringLower(hash));

    public IncrementalHash NewHasher() => IncrementalHash.CreateHash(Algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);

    /// <summary>Throws when <paramref name="data"/> does not hash to this digest.</summary>
    public void Verify(ReadOnlySpan<byte> data, string what)
    {
        using var h = NewHasher();
        h.AppendData(data);
        var actual = FromHash(Algorithm, h.GetHashAndReset());
        if (actual != this) throw new DigestMismatchException(what, this, actual);
    }

    public bool IsEmpty => Hex is null;

    public override string ToString() => Hex is null ? "" : $"{Algorithm}:{Hex}";
}

public class ImageException(string message, Exception? inner = null) : Exception(message, inner);

public sealed class DigestMismatchException(string what, Digest expected, Digest actual)
    : ImageException($"{what}: digest mismatch: expected {expected}, got {actual}")
{
    public Digest Expected { get; } = expected;
    public Digest Actual { get; } = actual;
}
