// The least a NativeAOT runtime pays for a container start here: the .NET start, then floor.c's kernel work
// called directly, its command line passed through as argv.
using System.Runtime.InteropServices;

string[] args0 = Environment.GetCommandLineArgs();
unsafe
{
    byte** argv = stackalloc byte*[args0.Length + 1];
    for (int i = 0; i < args0.Length; i++) argv[i] = (byte*)Marshal.StringToCoTaskMemUTF8(args0[i]);
    argv[args0.Length] = null;
    return Floor.Run(args0.Length, argv);
}

internal static unsafe partial class Floor
{
    [LibraryImport("floor", EntryPoint = "floor_main")]
    internal static partial int Run(int argc, byte** argv);
}
