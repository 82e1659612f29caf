using Csrun.Images.Content;
using Csrun.Linux;

namespace Csrun.Images.Store;

public sealed record PruneResult(int Blobs, long BlobBytes, int Layers, int Ingests);

/// <summary>
/// Mark and sweep over the store. Roots are the named images (every manifest of an index that is present, so
/// other platforms pulled earlier survive) and the active snapshots' layer stacks. Pulls and imports hold a
/// shared lease on &lt;root&gt;/gc.lock while they add content; a collection takes it exclusively, so nothing
/// fetched but not yet named is swept.
/// </summary>
public static class GarbageCollector
{
    public static IDisposable Lease(ImageStore store) => FileLock.Acquire(Path.Combine(store.Root, "gc.lock"), Libc.LOCK_SH);

    public static PruneResult Prune(ImageStore store)
    {
        using var _ = FileLock.Acquire(Path.Combine(store.Root, "gc.lock"), Libc.LOCK_EX);
        var blobs = new HashSet<Digest>();
        var layers = new HashSet<Digest>();

        foreach (var rec in store.Names.List())
        {
            var d = rec.Target.ParsedDigest;
            blobs.Add(d);
            if (!store.Content.Exists(d)) continue;
            if (MediaTypes.IsIndex(rec.Target.MediaType))
            {
                var index = store.ReadJson(d, ImagesJsonContext.Default.ImageIndex, "index");
                foreach (var m in index.Manifests)
                    if (MediaTypes.IsManifest(m.MediaType)) MarkManifest(store, m.ParsedDigest, blobs, layers);
            }
            else MarkManifest(store, d, blobs, layers);
        }
        foreach (var key in store.Snapshots.Active())
            try { layers.UnionWith(store.Snapshots.ParentsOf(key)); }
            catch (IOException) { } // a snapshot being created: its layers are held by the creator's lease

        int nBlobs = 0, nLayers = 0;
        long bytes = 0;
        foreach (var d in store.Content.List().ToList())
        {
            if (blobs.Contains(d)) continue;
            bytes += store.Content.SizeOf(d);
            store.Content.Delete(d);
            nBlobs++;
        }
        foreach (var c in store.Snapshots.Layers().ToList())
        {
            if (layers.Contains(c)) continue;
            store.Snapshots.DeleteLayer(c);
            nLayers++;
        }
        int ingests = store.Content.PruneIngests() + store.Snapshots.PruneTemp();
        return new PruneResult(nBlobs, bytes, nLayers, ingests);
    }

    private static void MarkManifest(ImageStore store, Digest d, HashSet<Digest> blobs, HashSet<Digest> layers)
    {
        blobs.Add(d);
        if (!store.Content.Exists(d)) return;
        var m = store.ReadJson(d, ImagesJsonContext.Default.ImageManifest, "manifest");
        var cfg = m.Config.ParsedDigest;
        blobs.Add(cfg);
        foreach (var l in m.Layers) blobs.Add(l.ParsedDigest);
        if (!store.Content.Exists(cfg)) return;
        var config = store.ReadJson(cfg, ImagesJsonContext.Default.ImageConfigFile, "image config");
        layers.UnionWith(Snapshots.Snapshotter.ChainIds(config.RootFs.DiffIds.Select(x => Digest.Parse(x)).ToList()));
    }
}
