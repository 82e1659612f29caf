namespace Csrun.Cni;

/// <summary>A CNI configuration or invocation failure.</summary>
public class CniException : Exception
{
    public CniException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A plugin answered with a CNI error object (<c>{"code", "msg", "details"}</c>) or failed without one.</summary>
public sealed class CniPluginException : CniException
{
    public CniPluginException(string plugin, string command, int code, string msg, string? details)
        : base($"CNI plugin {plugin} {command} failed: {msg}{(string.IsNullOrEmpty(details) ? "" : $" ({details})")} [code {code}]")
    {
        Plugin = plugin;
        Command = command;
        Code = code;
        Msg = msg;
        Details = details;
    }

    public string Plugin { get; }
    public string Command { get; }

    /// <summary>The spec's error code: 1-99 are the spec's own (7 invalid config, 11 try again later), 100+ the plugin's.</summary>
    public int Code { get; }
    public string Msg { get; }
    public string? Details { get; }
}

/// <summary>No executable for a plugin type in any plugin directory.</summary>
public sealed class CniPluginNotFoundException : CniException
{
    public CniPluginNotFoundException(string plugin, IEnumerable<string> dirs)
        : base($"CNI plugin \"{plugin}\" not found in {string.Join(":", dirs)}") => Plugin = plugin;

    public string Plugin { get; }
}
