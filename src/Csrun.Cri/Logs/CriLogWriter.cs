using System.Text;

namespace Csrun.Cri.Logs;

public enum CriStream { Stdout, Stderr }

/// <summary>
/// Container output in the CRI log format the kubelet reads (`crictl logs`, `kubectl logs`): one record per line,
/// "RFC3339Nano-timestamp stream tag content\n", tag F for a full line and P for a piece of a line longer than
/// the line limit (containerd's 16 KiB), the rest following in later records. Text without a final newline
/// waits for more output; at the end of the stream it is written as a full line, as containerd does.
/// </summary>
public sealed class CriLogWriter : IDisposable
{
    public const int DefaultMaxLine = 16 * 1024;
    private readonly Lock _lock = new();
    private readonly string _path;
    private readonly int _maxLine;
    private readonly byte[][] _pending;
    private readonly int[] _pendingLength = new int[2];
    private FileStream _file;

    public CriLogWriter(string path, int maxLine = DefaultMaxLine)
    {
        if (maxLine <= 0) throw new ArgumentOutOfRangeException(nameof(maxLine));
        _path = path;
        _maxLine = maxLine;
        _pending = [new byte[maxLine], new byte[maxLine]];
        _file = Open(path);
    }

    private static FileStream Open(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1 << 14);
    }

    /// <summary>Adds output of one stream; complete lines are written at once.</summary>
    public void Write(CriStream stream, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            int s = (int)stream;
            var pending = _pending[s];
            while (!data.IsEmpty)
            {
                int nl = data.IndexOf((byte)'\n');
                int take = nl < 0 ? data.Length : nl;
                int room = _maxLine - _pendingLength[s];
                if (take >= room)
                {
                    // The line outgrows the limit: its first piece goes out now, tagged partial.
                    data[..room].CopyTo(pending.AsSpan(_pendingLength[s]));
                    _pendingLength[s] = _maxLine;
                    Emit(stream, partial: true);
                    data = data[room..];
                    continue;
                }
                data[..take].CopyTo(pending.AsSpan(_pendingLength[s]));
                _pendingLength[s] += take;
                if (nl < 0) break;
                Emit(stream, partial: false);
                data = data[(nl + 1)..];
            }
            _file.Flush();
        }
    }

    /// <summary>The stream ended: what is left of its last line is written as a full line.</summary>
    public void Close(CriStream stream)
    {
        lock (_lock)
        {
            if (_pendingLength[(int)stream] > 0) Emit(stream, partial: false);
            _file.Flush();
        }
    }

    /// <summary>ReopenContainerLog: the kubelet rotated the file away; start a new one at the same path.</summary>
    public void Reopen()
    {
        lock (_lock)
        {
            _file.Dispose();
            _file = Open(_path);
        }
    }

    private void Emit(CriStream stream, bool partial)
    {
        int s = (int)stream;
        var head = Encoding.ASCII.GetBytes(
            $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffffff}00Z {(stream == CriStream.Stdout ? "stdout" : "stderr")} {(partial ? 'P' : 'F')} ");
        _file.Write(head);
        _file.Write(_pending[s].AsSpan(0, _pendingLength[s]));
        _file.WriteByte((byte)'\n');
        _pendingLength[s] = 0;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            Close(CriStream.Stdout);
            Close(CriStream.Stderr);
            _file.Dispose();
        }
    }
}
