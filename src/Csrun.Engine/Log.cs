using System.Text;

namespace Csrun.Engine;

/// <summary>
/// runc-compatible logging: --log FILE (default stderr) in text (logrus style) or json; containerd's shim
/// reads the last json "error" line of the log file to report why a command failed.
/// </summary>
public static class Log
{
    private static string? _file;
    private static bool _json;

    public static bool DebugEnabled { get; private set; }

    public static void Configure(string? file, string format, bool debug)
    {
        _file = string.IsNullOrEmpty(file) ? null : file;
        _json = format == "json";
        DebugEnabled = debug;
    }

    public static void Debug(string message)
    {
        if (DebugEnabled) Write("debug", message);
    }

    public static void Warn(string message) => Write("warning", message);

    public static void Error(string message) => Write("error", message);

    private static void Write(string level, string message)
    {
        string time = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ");
        string line = _json
            ? $"{{\"level\":\"{level}\",\"msg\":\"{Escape(message)}\",\"time\":\"{time}\"}}\n"
            : $"time=\"{time}\" level={level} msg=\"{Escape(message)}\"\n";
        try
        {
            if (_file is null)
            {
                // Without --log, runc writes its log to stderr; errors are printed there anyway.
                if (level != "error") Console.Error.Write(line);
            }
            else
            {
                File.AppendAllText(_file, line);
            }
        }
        catch (IOException)
        {
        }
    }

    private static string Escape(string s)
    {
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append($"\\u{(int)c:x4}"); else sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }
}
