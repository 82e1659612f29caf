namespace Csrun.Images.Snapshots;

/// <summary>Removal of unpacked trees. Layers may hold read-only directories; Directory.Delete cannot descend
/// into a 0555 directory as a non-root user, so modes are opened first.</summary>
internal static class Trees
{
    public static void Remove(string path)
    {
        if (!Directory.Exists(path)) return;
        try { Directory.Delete(path, recursive: true); }
        catch (UnauthorizedAccessException)
        {
            var opts = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
            foreach (var d in new DirectoryInfo(path).EnumerateDirectories("*", opts))
                if ((d.Attributes & FileAttributes.ReparsePoint) == 0)
                    d.UnixFileMode |= UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
            Directory.Delete(path, recursive: true);
        }
    }
}
