using System.Text.Encodings.Web;

namespace Csrun.Engine.State;

/// <summary>
/// JSON string escaping for the documents csrun writes on the start path: only what JSON itself requires
/// (quote, backslash, control characters, unpaired surrogates), every other character as UTF-8.
/// Why not <see cref="JavaScriptEncoder.Default"/>: Utf8JsonWriter consults it for every string, and its class
/// constructor builds the allow-lists of both built-in encoders, the relaxed one over all 65,536 BMP code
/// points: ~0.2 ms of each `csrun run`. State files and hook input are read by programs, never embedded
/// in HTML, so the default's HTML-safe escaping buys nothing there.
/// </summary>
internal sealed class MinimalJsonEncoder : JavaScriptEncoder
{
    public static readonly MinimalJsonEncoder Instance = new();

    private MinimalJsonEncoder()
    {
    }

    public override int MaxOutputCharactersPerInputCharacter => 6; // \uXXXX

    public override bool WillEncode(int unicodeScalar) =>
        unicodeScalar < 0x20 || unicodeScalar == '"' || unicodeScalar == '\\' || (unicodeScalar >= 0xD800 && unicodeScalar <= 0xDFFF);

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        for (int i = 0; i < textLength; i++)
        {
            char c = text[i];
            if (c < 0x20 || c == '"' || c == '\\') return i;
            if (char.IsSurrogate(c))
            {
                // A pair passes as is; a lone half is encoded (as U+FFFD, below).
                if (char.IsHighSurrogate(c) && i + 1 < textLength && char.IsLowSurrogate(text[i + 1])) i++;
                else return i;
            }
        }
        return -1;
    }

    public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
    {
        // Bytes >= 0x80 are parts of multi-byte sequences, which stay; the writer validates the UTF-8 itself.
        for (int i = 0; i < utf8Text.Length; i++)
        {
            byte b = utf8Text[i];
            if (b < 0x20 || b == (byte)'"' || b == (byte)'\\') return i;
        }
        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        Span<char> scratch = stackalloc char[6];
        scoped ReadOnlySpan<char> text = unicodeScalar switch
        {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\b' => "\\b",
            '\f' => "\\f",
            _ => default,
        };
        if (text.IsEmpty)
        {
            if (unicodeScalar < 0x20)
            {
                "\\u00".CopyTo(scratch);
                scratch[4] = "0123456789abcdef"[unicodeScalar >> 4];
                scratch[5] = "0123456789abcdef"[unicodeScalar & 0xF];
                text = scratch;
            }
            else
            {
                // Not ours to encode (or a lone surrogate half, which the caller hands over as U+FFFD): as is.
                var rune = System.Text.Rune.IsValid(unicodeScalar) ? new System.Text.Rune(unicodeScalar) : System.Text.Rune.ReplacementChar;
                text = scratch[..rune.EncodeToUtf16(scratch)];
            }
        }
        if (text.Length > bufferLength)
        {
            numberOfCharactersWritten = 0;
            return false;
        }
        text.CopyTo(new Span<char>(buffer, bufferLength));
        numberOfCharactersWritten = text.Length;
        return true;
    }
}
