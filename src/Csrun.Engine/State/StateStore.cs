using Csrun.Oci;
using System.Text.Json;
using Csrun.Linux;

namespace Csrun.Engine.State;

/// <summary>
/// The --root directory: one directory per container holding state.json (replaced atomically) and, until
/// `start`, exec.fifo. A command on a container holds flock on that directory, so concurrent commands on
/// one id are serialized and a delete racing a start cannot leave half a container.
/// </summary>
public sealed class StateStore(string root)
{
    public const string StateFile = "state.json";
    public const string ExecFifo = "exec.fifo";

    public string Root { get; } = root;

    public string DirOf(string id) => Path.Combine(Root, id);

    public bool Exists(string id) => Directory.Exists(DirOf(id));

    /// <summary>Creates the directory of a new container and locks it; fails if the id is taken.</summary>
    public ContainerDir CreateNew(string id)
    {
        ValidateId(id);
        string dir = DirOf(id);
        // The root exists but for the first container: made only when the container's directory cannot be.
        int made = Libc.Mkdir(dir, 0x1C9 /* 0711 */);
        if (made < 0 && Errno.Last == Libc.ENOENT)
        {
            Directory.CreateDirectory(Root);
            made = Libc.Mkdir(dir, 0x1C9 /* 0711 */);
        }
        if (made < 0)
        {
            int e = Errno.Last;
            throw e == Libc.EEXIST
                ? new ContainerException($"container with id {id} already exists")
                : new ErrnoException($"create state directory {dir}", e);
        }
        try
        {
            return new ContainerDir(id, dir, LockDir(dir));
        }
        catch
        {
            Directory.Delete(dir, true);
            throw;
        }
    }

    /// <summary>Opens and locks an existing container; fails with "does not exist" otherwise.</summary>
    public ContainerDir Open(string id, bool exclusive = true)
    {
        ValidateId(id);
        string dir = DirOf(id);
        SafeFd fd;
        try
        {
            fd = LockDir(dir, exclusive);
        }
        catch (ErrnoException e) when (e.Errno is Libc.ENOENT or Libc.ENOTDIR)
        {
            throw new ContainerException($"container {id} does not exist");
        }
        // A delete may have removed the directory while we waited for its lock.
        if (!File.Exists(Path.Combine(dir, StateFile)))
        {
            fd.Dispose();
            throw new ContainerException($"container {id} does not exist");
        }
        var cd = new ContainerDir(id, dir, fd);
        try
        {
            cd.Load();
            return cd;
        }
        catch
        {
            cd.Dispose();
            throw;
        }
    }

    public IEnumerable<string> Ids()
    {
        if (!Directory.Exists(Root)) yield break;
        foreach (var d in Directory.EnumerateDirectories(Root))
        {
            if (File.Exists(Path.Combine(d, StateFile))) yield return Path.GetFileName(d);
        }
    }

    private static SafeFd LockDir(string dir, bool exclusive = true)
    {
        var fd = SafeFd.Open(dir, Libc.O_RDONLY | Libc.O_DIRECTORY);
        while (Libc.Flock(fd.Fd, exclusive ? Libc.LOCK_EX : Libc.LOCK_SH) < 0)
        {
            int e = Errno.Last;
            if (e == Libc.EINTR) continue;
            fd.Dispose();
            throw new ErrnoException($"lock {dir}", e);
        }
        return fd;
    }

    /// <summary>runc's rule: letters, digits, '_', '+', '-', '.'; not "." or "..".</summary>
    public static void ValidateId(string id)
    {
        bool ok = id.Length is > 0 and <= 1024 && id != "." && id != "..";
        foreach (char c in id)
        {
            ok &= char.IsAsciiLetterOrDigit(c) || c is '_' or '+' or '-' or '.';
        }
        if (!ok) throw new ContainerException($"invalid container id \"{id}\": use letters, digits, '_', '+', '-' and '.'");
    }
}

/// <summary>A locked container directory and its record.</summary>
public sealed class ContainerDir(string id, string dir, SafeFd lockFd) : IDisposable
{
    public string Id { get; } = id;
    public string Dir { get; } = dir;
    public ContainerRecord Record { get; set; } = new() { Id = id };

    private const string TempStateFile = ".state.json.tmp";

    public string FifoPath => Path.Combine(Dir, StateStore.ExecFifo);

    public void Load()
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(Dir, StateStore.StateFile));
        try
        {
            Record = StateJson.ReadRecord(bytes);
        }
        catch (Exception e) when (e is JsonException or SpecFormatException or InvalidOperationException or FormatException)
        {
            throw new ContainerException($"state of container {Id} is corrupt: {e.Message}");
        }
    }

    /// <summary>Write to a temp file and rename over: readers never see a torn state.json.</summary>
    public void Save()
    {
        string tmp = Path.Combine(Dir, TempStateFile);
        byte[] bytes = StateJson.Write(Record);
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, Path.Combine(Dir, StateStore.StateFile), overwrite: true);
    }

    /// <summary>Removes the directory (the lock goes with the last close).</summary>
    public void Remove()
    {
        // state.json, then the directory: exec.fifo is gone once started and the temp file is only left by a save
        // cut short, so they are looked for only when the directory is not empty; a recursive delete lists and
        // stats it first. Anything else someone left in it still goes, the long way.
        try
        {
            File.Delete(Path.Combine(Dir, StateStore.StateFile));
            if (Libc.Rmdir(Dir) == 0 || Errno.Last == Libc.ENOENT) return;
            File.Delete(Path.Combine(Dir, StateStore.ExecFifo));
            File.Delete(Path.Combine(Dir, TempStateFile));
            try
            {
                Directory.Delete(Dir, false);
            }
            catch (IOException e) when (e is not DirectoryNotFoundException)
            {
                Directory.Delete(Dir, true);
            }
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    public void Dispose() => lockFd.Dispose();
}
