using System.Text;
using Csrun.Oci;

namespace Csrun.Engine;

/// <summary>Writes a new user namespace's uid_map and gid_map from the runtime (which is root outside it).</summary>
internal static class IdMappings
{
    public static void Write(int pid, List<LinuxIdMapping> uids, List<LinuxIdMapping> gids)
    {
        WriteMap($"/proc/{pid}/uid_map", uids, "linux.uidMappings");
        // An unprivileged writer may map its own gid only after giving up setgroups in the namespace.
        if (Rootless.IsRootless) File.WriteAllText($"/proc/{pid}/setgroups", "deny");
        WriteMap($"/proc/{pid}/gid_map", gids, "linux.gidMappings");
    }

    private static void WriteMap(string file, List<LinuxIdMapping> maps, string field)
    {
        var sb = new StringBuilder();
        foreach (var m in maps) sb.Append(m.ContainerId).Append(' ').Append(m.HostId).Append(' ').Append(m.Size).Append('\n');
        try
        {
            // One write: the kernel accepts a map only once, whole.
            File.WriteAllText(file, sb.ToString());
        }
        catch (IOException e)
        {
            throw new ContainerException($"{field}: write {file}: {e.Message}");
        }
    }
}
