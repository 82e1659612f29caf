using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Csrun.Cri.Streaming;

/// <summary>What an exec or attach needs from the client's connection, whatever carries it.</summary>
internal interface IRemoteCommandChannel : IAsyncDisposable
{
    /// <summary>The client's stdin, or null when it sends none.</summary>
    Stream? Stdin { get; }

    ChannelReader<(ushort Rows, ushort Cols)> Resizes { get; }

    Task WriteStdoutAsync(ReadOnlyMemory<byte> data);
    Task WriteStderrAsync(ReadOnlyMemory<byte> data);

    /// <summary>Ends the session: the exit status on the error stream (v4's metav1.Status), then closes.</summary>
    Task FinishAsync(int exitCode, string? error);
}

/// <summary>The remotecommand status objects (metav1.Status) the v4+ protocols put on the error stream.</summary>
internal static class RemoteCommandStatus
{
    public static byte[] Json(int exitCode, string? error, string command)
    {
        if (error is null && exitCode == 0) return """{"metadata":{},"status":"Success"}"""u8.ToArray();
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteEndObject();
            w.WriteString("status", "Failure");
            if (error is not null)
            {
                w.WriteString("message", error);
                w.WriteString("reason", "InternalError");
            }
            else
            {
                w.WriteString("message", $"command terminated with non-zero exit code: error executing command {command}, exit code {exitCode}");
                w.WriteString("reason", "NonZeroExitCode");
                w.WriteStartObject("details");
                w.WriteStartArray("causes");
                w.WriteStartObject();
                w.WriteString("reason", "ExitCode");
                w.WriteString("message", exitCode.ToString());
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>Resize messages: a stream of JSON objects {"Width":W,"Height":H}.</summary>
    public static async Task ReadResizesAsync(Stream input, ChannelWriter<(ushort, ushort)> output)
    {
        try
        {
            var pipe = PipeReader.Create(input);
            while (true)
            {
                var result = await pipe.ReadAsync();
                var buffer = result.Buffer;
                while (TryReadObject(ref buffer, out var size)) output.TryWrite(size);
                pipe.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception e) when (e is IOException or JsonException or OperationCanceledException) { }
        finally
        {
            output.TryComplete();
        }
    }

    private static bool TryReadObject(ref System.Buffers.ReadOnlySequence<byte> buffer, out (ushort, ushort) size)
    {
        size = default;
        var reader = new Utf8JsonReader(buffer, isFinalBlock: false, default);
        if (!reader.Read()) return false;
        if (!reader.TrySkip()) return false;
        var json = buffer.Slice(0, reader.BytesConsumed);
        buffer = buffer.Slice(reader.BytesConsumed);
        using var doc = JsonDocument.Parse(json);
        ushort w = doc.RootElement.TryGetProperty("Width", out var we) ? we.GetUInt16() : (ushort)0;
        ushort h = doc.RootElement.TryGetProperty("Height", out var he) ? he.GetUInt16() : (ushort)0;
        size = (h, w);
        return true;
    }
}

/// <summary>remotecommand over SPDY (channel.k8s.io v1-v4): one stream per role, named by its streamType header.</summary>
internal sealed class SpdyRemoteCommand : IRemoteCommandChannel
{
    private readonly SpdySession _session;
    private readonly Task _reader;
    private readonly string _protocol;
    private readonly string _command;
    private SpdyStream? _error, _stdin, _stdout, _stderr;
    private readonly Channel<(ushort, ushort)> _resizes = Channel.CreateUnbounded<(ushort, ushort)>();

    private SpdyRemoteCommand(SpdySession session, Task reader, string protocol, string command)
    {
        _session = session;
        _reader = reader;
        _protocol = protocol;
        _command = command;
    }

    /// <summary>Waits for the streams the client must open: error, then stdin/stdout/stderr as asked, resize with a tty (v3+).</summary>
    public static async Task<SpdyRemoteCommand> AcceptAsync(Stream transport, string protocol, bool stdin, bool stdout, bool stderr, bool tty,
        string command, CancellationToken cancellationToken)
    {
        var session = new SpdySession(transport, server: true);
        var reader = session.RunAsync(CancellationToken.None);
        var rc = new SpdyRemoteCommand(session, reader, protocol, command);
        bool resize = tty && protocol is "v4.channel.k8s.io" or "v3.channel.k8s.io";
        int expected = 1 + (stdin ? 1 : 0) + (stdout ? 1 : 0) + (stderr && !tty ? 1 : 0) + (resize ? 1 : 0);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        for (int i = 0; i < expected; i++)
        {
            var s = await session.IncomingStreams.ReadAsync(timeout.Token);
            switch (s.Header("streamType"))
            {
                case "error": rc._error = s; break;
                case "stdin": rc._stdin = s; break;
                case "stdout": rc._stdout = s; break;
                case "stderr": rc._stderr = s; break;
                case "resize": _ = RemoteCommandStatus.ReadResizesAsync(s.Input, rc._resizes.Writer); break;
                default: await s.CloseAsync(); i--; break;
            }
        }
        if (!resize) rc._resizes.Writer.TryComplete();
        return rc;
    }

    public Stream? Stdin => _stdin?.Input;
    public ChannelReader<(ushort Rows, ushort Cols)> Resizes => _resizes.Reader;

    public Task WriteStdoutAsync(ReadOnlyMemory<byte> data) => _stdout?.WriteAsync(data) ?? Task.CompletedTask;
    public Task WriteStderrAsync(ReadOnlyMemory<byte> data) => _stderr?.WriteAsync(data) ?? Task.CompletedTask;

    public async Task FinishAsync(int exitCode, string? error)
    {
        if (_stdout is not null) await _stdout.CloseAsync();
        if (_stderr is not null) await _stderr.CloseAsync();
        if (_error is not null)
        {
            // v1-v3 carry a plain message, and nothing on success; v4 a Status object.
            byte[]? status = _protocol == "v4.channel.k8s.io" ? RemoteCommandStatus.Json(exitCode, error, _command)
                : error is not null ? Encoding.UTF8.GetBytes(error)
                : exitCode != 0 ? Encoding.UTF8.GetBytes($"command terminated with non-zero exit code: exit code {exitCode}") : null;
            try
            {
                if (status is not null) await _error.WriteAsync(status);
            }
            catch (IOException) { }
            await _error.CloseAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Give the client a moment to read the status and hang up first, as the kubelet's server does.
        await Task.WhenAny(_reader, Task.Delay(TimeSpan.FromSeconds(2)));
        await _session.DisposeAsync();
    }
}

/// <summary>remotecommand over a websocket (v4/v5.channel.k8s.io): each message starts with its channel number.</summary>
internal sealed class WebSocketRemoteCommand : IRemoteCommandChannel
{
    private const byte StdinChannel = 0, StdoutChannel = 1, StderrChannel = 2, ErrorChannel = 3, ResizeChannel = 4, CloseSignal = 255;

    private readonly WebSocket _socket;
    private readonly string _command;
    private readonly Pipe? _stdin;
    private readonly Channel<(ushort, ushort)> _resizes = Channel.CreateUnbounded<(ushort, ushort)>();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Task _reader;

    public WebSocketRemoteCommand(WebSocket socket, bool stdin, string command)
    {
        _socket = socket;
        _command = command;
        _stdin = stdin ? new Pipe() : null;
        _reader = ReadLoopAsync();
    }

    public Stream? Stdin => _stdin?.Reader.AsStream();
    public ChannelReader<(ushort Rows, ushort Cols)> Resizes => _resizes.Reader;

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[32 * 1024];
        var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var r = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                if (r.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage) continue;
                byte[] m = message.ToArray();
                message.SetLength(0);
                if (m.Length == 0) continue;
                switch (m[0])
                {
                    case StdinChannel when _stdin is not null:
                        await _stdin.Writer.WriteAsync(m.AsMemory(1));
                        break;
                    case ResizeChannel:
                        using (var doc = JsonDocument.Parse(m.AsMemory(1)))
                            _resizes.Writer.TryWrite((doc.RootElement.GetProperty("Height").GetUInt16(), doc.RootElement.GetProperty("Width").GetUInt16()));
                        break;
                    case CloseSignal when m.Length > 1 && m[1] == StdinChannel:
                        _stdin?.Writer.Complete(); // v5: the client closed its stdin
                        break;
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or JsonException or OperationCanceledException) { }
        finally
        {
            _stdin?.Writer.Complete();
            _resizes.Writer.TryComplete();
        }
    }

    private async Task SendAsync(byte channel, ReadOnlyMemory<byte> data)
    {
        var m = new byte[data.Length + 1];
        m[0] = channel;
        data.CopyTo(m.AsMemory(1));
        await _sendLock.WaitAsync();
        try
        {
            if (_socket.State == WebSocketState.Open)
                await _socket.SendAsync(m, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        }
        catch (WebSocketException) { }
        finally
        {
            _sendLock.Release();
        }
    }

    public Task WriteStdoutAsync(ReadOnlyMemory<byte> data) => SendAsync(StdoutChannel, data);
    public Task WriteStderrAsync(ReadOnlyMemory<byte> data) => SendAsync(StderrChannel, data);

    public async Task FinishAsync(int exitCode, string? error)
    {
        await SendAsync(ErrorChannel, RemoteCommandStatus.Json(exitCode, error, _command));
        try
        {
            if (_socket.State == WebSocketState.Open)
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        catch (WebSocketException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAny(_reader, Task.Delay(TimeSpan.FromSeconds(2)));
        _socket.Dispose();
    }
}
