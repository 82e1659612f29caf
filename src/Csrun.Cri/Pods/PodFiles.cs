using System.Text;
using Csrun.Cri.V1;
using Csrun.Linux;

namespace Csrun.Cri.Pods;

/// <summary>A pod's /etc/hostname, /etc/hosts and /etc/resolv.conf (bind-mounted into each container) and
/// its /dev/shm, a tmpfs the containers of a pod with its own IPC namespace share.</summary>
internal static class PodFiles
{
    public const long ShmSize = 64 * 1024 * 1024; // docker's and containerd's default

    public static void Write(string podDir, string hostname, DNSConfig? dns, string? ip)
    {
        File.WriteAllText(Path.Combine(podDir, "hostname"), hostname + "\n");
        var hosts = new StringBuilder("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        if (!string.IsNullOrEmpty(ip)) hosts.Append(ip).Append('\t').Append(hostname).Append('\n');
        File.WriteAllText(Path.Combine(podDir, "hosts"), hosts.ToString());
        File.WriteAllText(Path.Combine(podDir, "resolv.conf"), ResolvConf(dns));
    }

    /// <summary>The kubelet's DNSConfig as resolv.conf; without one, the host's (as containerd does).</summary>
    internal static string ResolvConf(DNSConfig? dns)
    {
        if (dns is null || dns.Servers.Count + dns.Searches.Count + dns.Options.Count == 0)
            return File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : "";
        var sb = new StringBuilder();
        if (dns.Searches.Count > 0) sb.Append("search ").AppendJoin(' ', dns.Searches).Append('\n');
        foreach (string server in dns.Servers) sb.Append("nameserver ").Append(server).Append('\n');
        if (dns.Options.Count > 0) sb.Append("options ").AppendJoin(' ', dns.Options).Append('\n');
        return sb.ToString();
    }

    public static void MountShm(string path)
    {
        Directory.CreateDirectory(path);
        Errno.Check(MountApi.Mount("shm", path, "tmpfs", MountFlags.MS_NOSUID | MountFlags.MS_NODEV | MountFlags.MS_NOEXEC,
            $"mode=1777,size={ShmSize}"), $"mount tmpfs on {path}");
    }

    /// <summary>Unmounts everything at <paramref name="path"/> (shm, namespace files); absent is fine.</summary>
    public static void Unmount(string path)
    {
        while (Libc.Umount2(path, MountApi.MNT_DETACH) == 0) { }
        if (Errno.Last is not (Libc.EINVAL or Libc.ENOENT))
            throw new ErrnoException($"umount {path}", Errno.Last);
    }
}
