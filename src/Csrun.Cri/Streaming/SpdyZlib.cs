using System.Runtime.InteropServices;
using System.Text;

namespace Csrun.Cri.Streaming;

/// <summary>
/// SPDY/3 header compression: one zlib stream per direction for the whole connection, primed with the
/// dictionary of the SPDY/3 draft (section 2.6.10.1), flushed with Z_SYNC_FLUSH after each header block.
/// .NET's ZLibStream has no preset dictionary, so this calls Debian's zlib (libz.so.1) directly.
/// </summary>
internal sealed unsafe partial class SpdyZlib : IDisposable
{
    private const string Lib = "libz.so.1";
    private const int Z_OK = 0, Z_NEED_DICT = 2, Z_BUF_ERROR = -5, Z_SYNC_FLUSH = 2, Z_BEST_COMPRESSION = 9, ZStreamSize = 112;

    // The draft's dictionary: the words below, each after its length as a 32-bit big-endian number, then the text.
    private static readonly string[] DictionaryWords =
    [
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
        "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
        "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
        "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
        "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
        "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
        "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
        "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
        "keep-alive", "origin"
    ];

    private const string DictionaryTail =
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505203 Non-Au" +
        "thoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidd" +
        "en404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr Ma" +
        "y Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,imag" +
        "e/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicpri" +
        "vatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

    internal static readonly byte[] Dictionary = BuildDictionary();

    private static byte[] BuildDictionary()
    {
        var ms = new MemoryStream();
        Span<byte> len = stackalloc byte[4];
        foreach (string w in DictionaryWords)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(len, w.Length);
            ms.Write(len);
            ms.Write(Encoding.ASCII.GetBytes(w));
        }
        ms.Write(Encoding.ASCII.GetBytes(DictionaryTail));
        return ms.ToArray();
    }

    [LibraryImport(Lib, EntryPoint = "zlibVersion")]
    private static partial byte* ZlibVersion();
    [LibraryImport(Lib, EntryPoint = "deflateInit_")]
    private static partial int DeflateInit(void* strm, int level, byte* version, int size);
    [LibraryImport(Lib, EntryPoint = "deflateSetDictionary")]
    private static partial int DeflateSetDictionary(void* strm, byte* dict, uint len);
    [LibraryImport(Lib, EntryPoint = "deflate")]
    private static partial int Deflate(void* strm, int flush);
    [LibraryImport(Lib, EntryPoint = "deflateEnd")]
    private static partial int DeflateEnd(void* strm);
    [LibraryImport(Lib, EntryPoint = "inflateInit_")]
    private static partial int InflateInit(void* strm, byte* version, int size);
    [LibraryImport(Lib, EntryPoint = "inflateSetDictionary")]
    private static partial int InflateSetDictionary(void* strm, byte* dict, uint len);
    [LibraryImport(Lib, EntryPoint = "inflate")]
    private static partial int Inflate(void* strm, int flush);
    [LibraryImport(Lib, EntryPoint = "inflateEnd")]
    private static partial int InflateEnd(void* strm);

    // z_stream on x86_64: zlib keeps a pointer back to it, so it lives in native memory that never moves.
    [StructLayout(LayoutKind.Sequential)]
    private struct ZStream
    {
        public byte* NextIn;
        public uint AvailIn;
        public ulong TotalIn;
        public byte* NextOut;
        public uint AvailOut;
        public ulong TotalOut;
        public byte* Msg;
        private readonly nint _state, _zalloc, _zfree, _opaque;
        private readonly int _dataType;
        private readonly ulong _adler, _reserved;
    }

    private readonly ZStream* _z;
    private readonly bool _deflate;
    private readonly object _lock = new();

    private SpdyZlib(bool deflate)
    {
        _deflate = deflate;
        _z = (ZStream*)NativeMemory.AllocZeroed(ZStreamSize);
        int rc;
        if (deflate)
        {
            rc = DeflateInit(_z, Z_BEST_COMPRESSION, ZlibVersion(), ZStreamSize);
            if (rc == Z_OK)
                fixed (byte* d = Dictionary) rc = DeflateSetDictionary(_z, d, (uint)Dictionary.Length);
        }
        else
        {
            rc = InflateInit(_z, ZlibVersion(), ZStreamSize);
        }
        if (rc != Z_OK)
        {
            NativeMemory.Free(_z);
            throw new InvalidOperationException($"zlib init: {rc}");
        }
    }

    public static SpdyZlib Compressor() => new(deflate: true);
    public static SpdyZlib Decompressor() => new(deflate: false);

    /// <summary>Compresses one header block and sync-flushes, so the peer can read it all from this frame.</summary>
    public byte[] Compress(ReadOnlySpan<byte> input)
    {
        lock (_lock)
        {
            var output = new MemoryStream();
            byte[] buffer = new byte[Math.Max(256, input.Length + 64)];
            fixed (byte* pin = input)
            fixed (byte* pout = buffer)
            {
                _z->NextIn = pin;
                _z->AvailIn = (uint)input.Length;
                do
                {
                    _z->NextOut = pout;
                    _z->AvailOut = (uint)buffer.Length;
                    int rc = Deflate(_z, Z_SYNC_FLUSH);
                    if (rc != Z_OK && rc != Z_BUF_ERROR) throw new InvalidDataException($"zlib deflate: {rc}");
                    output.Write(buffer, 0, buffer.Length - (int)_z->AvailOut);
                } while (_z->AvailOut == 0);
            }
            return output.ToArray();
        }
    }

    /// <summary>Decompresses one frame's header block (the whole of it arrives in the frame).</summary>
    public byte[] Decompress(ReadOnlySpan<byte> input)
    {
        lock (_lock)
        {
            var output = new MemoryStream();
            byte[] buffer = new byte[4096];
            fixed (byte* pin = input)
            fixed (byte* pout = buffer)
            {
                _z->NextIn = pin;
                _z->AvailIn = (uint)input.Length;
                while (true)
                {
                    _z->NextOut = pout;
                    _z->AvailOut = (uint)buffer.Length;
                    int rc = Inflate(_z, Z_SYNC_FLUSH);
                    if (rc == Z_NEED_DICT)
                    {
                        fixed (byte* d = Dictionary) rc = InflateSetDictionary(_z, d, (uint)Dictionary.Length);
                        if (rc != Z_OK) throw new InvalidDataException($"zlib: the peer's header dictionary is not SPDY/3's ({rc})");
                        continue;
                    }
                    if (rc != Z_OK && rc != Z_BUF_ERROR) throw new InvalidDataException($"zlib inflate: {rc}");
                    output.Write(buffer, 0, buffer.Length - (int)_z->AvailOut);
                    if (_z->AvailIn == 0 && _z->AvailOut != 0) break;
                    if (rc == Z_BUF_ERROR && _z->AvailIn == 0) break;
                }
            }
            return output.ToArray();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_deflate) DeflateEnd(_z);
            else InflateEnd(_z);
            NativeMemory.Free(_z);
        }
    }
}
