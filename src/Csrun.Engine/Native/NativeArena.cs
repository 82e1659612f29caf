using System.Runtime.InteropServices;
using System.Text;

namespace Csrun.Engine.Native;

/// <summary>
/// Bump allocator for the flat plan handed to the C helper: one or a few unmanaged blocks, freed together.
/// The child is a fork-like copy of this process, so the memory stays valid in it after the parent frees it.
/// In csrun's run and create the blocks come from the memory shared with the start-up's spawner
/// (native/spawner.c), which clones the init from a plan only when all of it is there; that memory is never
/// freed (one plan a process).
/// </summary>
internal sealed unsafe class NativeArena : IDisposable
{
    private const int BlockSize = 64 * 1024;
    private readonly List<nint> _blocks = [];
    private byte* _cur;
    private nint _left;

    public void* Alloc(nint size, int align = 8)
    {
        nint pad = (nint)((-(long)_cur) & (align - 1));
        if (_cur == null || size + pad > _left)
        {
            nint blockSize = Math.Max(BlockSize, size + align);
            byte* block = (byte*)NativeMethods.SharedAlloc((ulong)blockSize);
            if (block == null)
            {
                block = (byte*)NativeMemory.AllocZeroed((nuint)blockSize);
                _blocks.Add((nint)block);
            }
            _cur = block;
            _left = blockSize;
            pad = (nint)((-(long)_cur) & (align - 1));
        }
        byte* p = _cur + pad;
        _cur = p + size;
        _left -= size + pad;
        return p;
    }

    public T* Alloc<T>(int count = 1) where T : unmanaged => (T*)Alloc((nint)sizeof(T) * Math.Max(count, 1));

    /// <summary>NUL-terminated UTF-8 copy; null stays null.</summary>
    public byte* Str(string? s)
    {
        if (s is null) return null;
        int n = Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)Alloc(n + 1, 1);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    /// <summary>NULL-terminated array of strings (argv/envp style).</summary>
    public byte** StrArray(IReadOnlyList<string>? items)
    {
        int n = items?.Count ?? 0;
        byte** arr = (byte**)Alloc((nint)sizeof(byte*) * (n + 1));
        for (int i = 0; i < n; i++) arr[i] = Str(items![i]);
        arr[n] = null;
        return arr;
    }

    public void Dispose()
    {
        foreach (nint b in _blocks) NativeMemory.Free((void*)b);
        _blocks.Clear();
        _cur = null;
        _left = 0;
    }
}
