using System.Text;
using Csrun.Cri.V1;
using Csrun.Images.Content;
using Csrun.Images.Pull;
using Csrun.Images.Registry;
using Csrun.Images.Store;
using Grpc.Core;
using ImageRecordStore = Csrun.Images.Store.ImageStore;

namespace Csrun.Cri.Services;

/// <summary>
/// runtime.v1 ImageService over the image store csrun uses (src/Csrun.Images): images are named by their
/// references, identified by their config digest (docker's image ID), and pulled with the registry
/// configuration csrun reads, with the credentials the kubelet passes.
/// </summary>
public sealed class CriImageService(CriOptions options) : ImageService.ImageServiceBase
{
    private readonly ImageRecordStore _store = new(options.ImageRoot);
    private readonly RegistryConfig _registries = RegistryConfig.Load(options.RegistriesConfigPath);

    public override Task<ListImagesResponse> ListImages(ListImagesRequest request, ServerCallContext context)
    {
        var response = new ListImagesResponse();
        string? filter = request.Filter?.Image?.Image is { Length: > 0 } f ? f : null;
        var wanted = filter is null ? null : _store.Find(filter, PlatformSelector.Default)?.Id;
        if (filter is not null && wanted is null) return Task.FromResult(response);
        foreach (var image in All())
            if (wanted is null || image.Id == wanted) response.Images.Add(image.Message);
        return Task.FromResult(response);
    }

    public override Task StreamImages(StreamImagesRequest request, IServerStreamWriter<StreamImagesResponse> responseStream, ServerCallContext context) =>
        throw Unimplemented.Rpc(nameof(StreamImages));

    /// <summary>An image the store does not hold is an empty answer, not an error: the kubelet asks before pulling.</summary>
    public override Task<ImageStatusResponse> ImageStatus(ImageStatusRequest request, ServerCallContext context)
    {
        string name = Require(request.Image?.Image, "image.image");
        var response = new ImageStatusResponse();
        var found = Find(name);
        if (found is null) return Task.FromResult(response);
        response.Image = found.Message;
        if (request.Verbose)
            response.Info["info"] = Encoding.UTF8.GetString(_store.Content.ReadAll(found.Resolved.ConfigDigest));
        return Task.FromResult(response);
    }

    public override async Task<PullImageResponse> PullImage(PullImageRequest request, ServerCallContext context)
    {
        string name = Require(request.Image?.Image, "image.image");
        ImageReference reference;
        try { reference = ImageReference.Parse(name); }
        catch (ImageException e) { throw new RpcException(new Status(StatusCode.InvalidArgument, $"image.image: {e.Message}")); }
        var auth = Credentials(request.Auth, reference);
        try
        {
            using var client = new RegistryClient(_registries, auth);
            var image = await new ImagePuller(_store, client).PullAsync(reference, new PullOptions(), context.CancellationToken);
            return new PullImageResponse { ImageRef = image.Id.ToString() };
        }
        catch (ImageException e) { throw new RpcException(new Status(StatusCode.Unknown, $"pull {reference}: {e.Message}")); }
    }

    /// <summary>Removes every name of the image (containerd's behaviour), then what nothing references; an
    /// image that is already gone is success, since the kubelet retries.</summary>
    public override Task<RemoveImageResponse> RemoveImage(RemoveImageRequest request, ServerCallContext context)
    {
        string name = Require(request.Image?.Image, "image.image");
        var found = Find(name);
        if (found is not null)
        {
            foreach (var rec in _store.Names.List())
                if (TryLoad(rec)?.Id == found.Id) _store.Names.Remove(rec.Name);
            GarbageCollector.Prune(_store);
        }
        return Task.FromResult(new RemoveImageResponse());
    }

    public override Task<ImageFsInfoResponse> ImageFsInfo(ImageFsInfoRequest request, ServerCallContext context)
    {
        long bytes = 0, inodes = 0;
        var opts = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        if (Directory.Exists(_store.Root))
            foreach (var f in new DirectoryInfo(_store.Root).EnumerateFileSystemInfos("*", opts))
            {
                inodes++;
                if (f is FileInfo fi && fi.LinkTarget is null) bytes += fi.Length;
            }
        var usage = new FilesystemUsage
        {
            Timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000,
            FsId = new FilesystemIdentifier { Mountpoint = _store.Root },
            UsedBytes = new UInt64Value { Value = (ulong)bytes },
            InodesUsed = new UInt64Value { Value = (ulong)inodes },
        };
        var response = new ImageFsInfoResponse();
        response.ImageFilesystems.Add(usage);
        return Task.FromResult(response);
    }

    private sealed record Listed(ResolvedImage Resolved, Image Message)
    {
        public Digest Id => Resolved.Id;
    }

    private Listed? Find(string name)
    {
        ResolvedImage? r;
        try { r = _store.Find(name, PlatformSelector.Default); }
        catch (ImageException e) { throw new RpcException(new Status(StatusCode.InvalidArgument, $"image.image: {e.Message}")); }
        return r is null ? null : All().FirstOrDefault(i => i.Id == r.Id);
    }

    private ResolvedImage? TryLoad(ImageRecord rec)
    {
        try { return _store.Load(rec.Name, rec.Target, PlatformSelector.Default); }
        catch (Exception e) when (e is ImageException or IOException) { return null; }
    }

    /// <summary>Every image once, with all the names (tags and digests) that point at it.</summary>
    private List<Listed> All()
    {
        var byId = new Dictionary<Digest, (ResolvedImage Image, List<ImageRecord> Names)>();
        foreach (var rec in _store.Names.List())
        {
            if (TryLoad(rec) is not { } img) continue;
            if (!byId.TryGetValue(img.Id, out var entry)) byId[img.Id] = entry = (img, []);
            entry.Names.Add(rec);
        }
        var result = new List<Listed>();
        foreach (var (id, (img, names)) in byId)
        {
            var message = new Image { Id = id.ToString(), Size = (ulong)img.CompressedSize, Spec = new V1.ImageSpec { Image = id.ToString() } };
            foreach (var rec in names)
            {
                var r = ImageReference.Parse(rec.Name);
                if (r.Tag is not null && r.Digest is null) message.RepoTags.Add(rec.Name);
                message.RepoDigests.Add($"{r.Name}@{rec.Target.Digest}");
            }
            // The kubelet checks runAsNonRoot against these: a numeric user is a uid, a name only a name.
            string user = img.Config.Config?.User ?? "";
            string userPart = user.Split(':')[0];
            if (long.TryParse(userPart, out long uid)) message.Uid = new Int64Value { Value = uid };
            else if (userPart.Length > 0) message.Username = userPart;
            result.Add(new Listed(img, message));
        }
        return result;
    }

    private static Csrun.Images.Registry.AuthConfig Credentials(V1.AuthConfig? auth, ImageReference reference)
    {
        if (auth is null) return Csrun.Images.Registry.AuthConfig.Load();
        string host = auth.ServerAddress is { Length: > 0 } s ? s : reference.Registry;
        string user = auth.Username, password = auth.Password;
        if (auth.Auth is { Length: > 0 } b64)
        {
            string decoded;
            try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(b64)); }
            catch (FormatException) { throw new RpcException(new Status(StatusCode.InvalidArgument, "auth.auth: not base64")); }
            int colon = decoded.IndexOf(':');
            if (colon < 0) throw new RpcException(new Status(StatusCode.InvalidArgument, "auth.auth: not base64(user:password)"));
            (user, password) = (decoded[..colon], decoded[(colon + 1)..]);
        }
        return user.Length > 0 ? Csrun.Images.Registry.AuthConfig.FromCredentials(host, user, password) : Csrun.Images.Registry.AuthConfig.Empty;
    }

    private static string Require(string? value, string field) =>
        string.IsNullOrEmpty(value) ? throw new RpcException(new Status(StatusCode.InvalidArgument, $"{field}: required")) : value;
}
