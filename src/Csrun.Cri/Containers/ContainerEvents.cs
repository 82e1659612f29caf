using System.Threading.Channels;
using Csrun.Cri.State;
using Csrun.Cri.V1;
using Grpc.Core;

namespace Csrun.Cri.Containers;

/// <summary>GetContainerEvents (the kubelet's evented PLEG): every subscriber gets each lifecycle change from
/// the moment it subscribes; a subscriber that falls 1000 events behind loses the oldest.</summary>
public sealed class ContainerEvents
{
    private readonly object _lock = new();
    private readonly List<Channel<ContainerEventResponse>> _subscribers = [];

    public bool HasSubscribers
    {
        get { lock (_lock) return _subscribers.Count > 0; }
    }

    public void Publish(ContainerRecord c, ContainerEventType type)
    {
        var e = new ContainerEventResponse
        {
            ContainerId = c.Id, ContainerEventType = type, CreatedAt = CriErrors.Now(),
        };
        lock (_lock)
            foreach (var s in _subscribers) s.Writer.TryWrite(e);
    }

    public async Task StreamAsync(IServerStreamWriter<ContainerEventResponse> stream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var channel = Channel.CreateBounded<ContainerEventResponse>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropOldest });
        lock (_lock) _subscribers.Add(channel);
        try
        {
            // Headers now: a client that waits for them knows it misses nothing from here on.
            await context.WriteResponseHeadersAsync([]);
            await foreach (var e in channel.Reader.ReadAllAsync(cancellationToken))
                await stream.WriteAsync(e, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The client went away.
        }
        finally
        {
            lock (_lock) _subscribers.Remove(channel);
        }
    }
}
