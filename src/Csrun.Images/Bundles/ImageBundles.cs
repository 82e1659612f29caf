using System.Text.Json;
using Csrun.Images.Config;
using Csrun.Images.Content;
using Csrun.Images.Store;
using Csrun.Linux;
using Csrun.Oci;

namespace Csrun.Images.Bundles;

/// <summary>
/// Image → OCI bundle: &lt;store&gt;/bundles/&lt;id&gt;/ holds config.json, rootfs/ (the container's overlay
/// snapshot, mounted here) and volumes/ (the image's anonymous volumes). <see cref="Release"/> undoes all of it;
/// a failed <see cref="Create"/> leaves nothing behind.
/// </summary>
public sealed class ImageBundles(ImageStore store)
{
    private readonly string _dir = Path.Combine(store.Root, "bundles");

    public string PathOf(string id) => Path.Combine(_dir, id);

    /// <summary>The bundles of the store a bundle path belongs to (&lt;root&gt;/bundles/&lt;id&gt; with a snapshot
    /// of that id), or null for a bundle no image store made.</summary>
    public static ImageBundles? ForBundle(string? bundle)
    {
        if (string.IsNullOrEmpty(bundle)) return null;
        string full = Path.GetFullPath(bundle).TrimEnd('/');
        string? parent = Path.GetDirectoryName(full);
        if (parent is null || Path.GetFileName(parent) != "bundles") return null;
        string root = Path.GetDirectoryName(parent)!;
        if (!Directory.Exists(Path.Combine(root, "snapshots", "active", Path.GetFileName(full)))) return null;
        return new ImageBundles(new ImageStore(root));
    }

    /// <summary>Creates the bundle for container <paramref name="id"/> from <paramref name="image"/>; returns its path.</summary>
    /// <param name="finish">Last edits of the spec, after the image's part is in (e.g. groups on top of the image's user).</param>
    public string Create(string id, ResolvedImage image, Spec baseSpec, RunOverrides overrides, bool rootless = false, Action<Spec>? finish = null)
    {
        if (id.Length == 0 || id.Contains('/') || id is "." or "..")
            throw new ImageException($"container id \"{id}\": must be a single path component");
        using var lease = GarbageCollector.Lease(store);
        store.Unpack(image, rootless);
        string bundle = PathOf(id), rootfs = Path.Combine(bundle, "rootfs");
        Directory.CreateDirectory(_dir);
        try { Directory.CreateDirectory(bundle); }
        catch (IOException e) { throw new ImageException($"bundle {bundle}: {e.Message}"); }
        if (Directory.EnumerateFileSystemEntries(bundle).Any())
            throw new ImageException($"container \"{id}\": a bundle for it already exists at {bundle}");
        bool snapshot = false;
        try
        {
            Directory.CreateDirectory(rootfs);
            store.Snapshots.Prepare(id, image.ChainIds);
            snapshot = true;
            store.Snapshots.Mount(id, rootfs);

            var spec = baseSpec;
            spec.Root = new Root { Path = "rootfs", Readonly = false };
            int n = 0;
            ImageSpec.Apply(spec, image.Config, rootfs, overrides, dest =>
            {
                string v = Path.Combine(bundle, "volumes", $"{n++}");
                Directory.CreateDirectory(v);
                return v;
            });
            spec.Annotations!["org.opencontainers.image.ref.name"] = image.Name;
            spec.Annotations["io.csrun.image.id"] = image.Id.ToString();
            finish?.Invoke(spec);
            File.WriteAllText(Path.Combine(bundle, "config.json"), JsonSerializer.Serialize(spec, SpecJsonContext.Indented.Spec));
            return bundle;
        }
        catch
        {
            Cleanup(id, bundle, rootfs, snapshot);
            throw;
        }
    }

    /// <summary>Unmounts the rootfs and removes the snapshot and bundle of container <paramref name="id"/>.</summary>
    public void Release(string id) => Cleanup(id, PathOf(id), Path.Combine(PathOf(id), "rootfs"), store.Snapshots.Exists(id));

    private void Cleanup(string id, string bundle, string rootfs, bool snapshot)
    {
        // Detach: a process still holding a file open must not keep the bundle from going away.
        while (Libc.Umount2(rootfs, MountApi.MNT_DETACH) == 0) { }
        if (Errno.Last is not (Libc.EINVAL or Libc.ENOENT))
            throw new ErrnoException($"umount {rootfs}", Errno.Last); // never delete through a live mount
        if (snapshot) store.Snapshots.Remove(id);
        if (Directory.Exists(bundle)) Directory.Delete(bundle, recursive: true);
    }
}
