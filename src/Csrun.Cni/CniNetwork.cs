using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Csrun.Cni;

/// <summary>
/// Runs a configuration list's plugin chain by the CNI 1.0 spec: each plugin is an executable named by its "type",
/// given the command and attachment in CNI_* variables and its configuration on stdin, with name and cniVersion
/// from the list, the previous plugin's result as prevResult and the capability arguments it declares as
/// runtimeConfig. ADD and CHECK run the chain in order, DEL in reverse.
/// </summary>
public sealed class CniNetwork
{
    public CniNetwork(CniConfigList config, IEnumerable<string>? pluginDirs = null)
    {
        Config = config;
        PluginDirs = (pluginDirs ?? CniConfigList.DefaultPluginDirs).ToArray();
    }

    public CniConfigList Config { get; }
    public IReadOnlyList<string> PluginDirs { get; }

    public string Name => Config.Name;

    /// <summary>
    /// Attaches the container. A chain that fails part-way is undone with DEL over the whole chain (its own errors
    /// dropped; the plugins' DEL tolerates what ADD never made) before the ADD error is thrown, so nothing leaks.
    /// </summary>
    public async Task<CniResult> AddAsync(CniAttachment attachment, CancellationToken cancellationToken = default)
    {
        JsonObject? result = null;
        try
        {
            foreach (JsonObject plugin in Config.Plugins)
            {
                string output = await InvokeAsync(plugin, "ADD", attachment, result, cancellationToken).ConfigureAwait(false);
                if (!string.IsNullOrWhiteSpace(output))
                    result = CniResult.Parse(output).Json;
            }
        }
        catch (Exception e) when (e is CniException or OperationCanceledException)
        {
            try
            {
                await DelAsync(attachment, result is null ? null : CniResult.Parse(result.ToJsonString()), CancellationToken.None).ConfigureAwait(false);
            }
            catch (CniException)
            {
                // The ADD error is the one worth reporting.
            }
            throw;
        }
        return result is null
            ? throw new CniException($"CNI network {Name}: ADD produced no result")
            : CniResult.Parse(result.ToJsonString());
    }

    /// <summary>Verifies the attachment still matches <paramref name="previous"/> (ADD's result). CNI versions
    /// before 0.4.0 and lists with disableCheck have no CHECK; it succeeds without running anything.</summary>
    public async Task CheckAsync(CniAttachment attachment, CniResult previous, CancellationToken cancellationToken = default)
    {
        if (Config.DisableCheck || !SupportsCheck(Config.CniVersion))
            return;
        foreach (JsonObject plugin in Config.Plugins)
            await InvokeAsync(plugin, "CHECK", attachment, previous.Json, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Detaches the container, last plugin first. Every plugin runs even when one fails (so one broken plugin
    /// does not leak the others' veths and leases); the first failure is thrown afterwards.
    /// </summary>
    public async Task DelAsync(CniAttachment attachment, CniResult? previous, CancellationToken cancellationToken = default)
    {
        CniException? first = null;
        for (int i = Config.Plugins.Count - 1; i >= 0; i--)
        {
            try
            {
                await InvokeAsync(Config.Plugins[i], "DEL", attachment, previous?.Json, cancellationToken).ConfigureAwait(false);
            }
            catch (CniException e)
            {
                first ??= e;
            }
        }
        if (first is not null)
            throw first;
    }

    private static bool SupportsCheck(string version) =>
        !version.StartsWith("0.", StringComparison.Ordinal) || string.CompareOrdinal(version, "0.4.0") >= 0;

    /// <summary>The stdin document for one plugin: its own config plus what the list and the runtime inject.</summary>
    internal JsonObject PluginStdin(JsonObject plugin, CniAttachment attachment, JsonObject? prevResult)
    {
        var conf = (JsonObject)plugin.DeepClone();
        conf["name"] = Config.Name;
        conf["cniVersion"] = Config.CniVersion;
        conf.Remove("prevResult");
        if (prevResult is not null)
            conf["prevResult"] = prevResult.DeepClone();

        var runtimeConfig = new JsonObject();
        if (conf["capabilities"] is JsonObject declared)
        {
            foreach ((string capability, JsonNode? enabled) in declared)
            {
                if (enabled is not JsonValue v || !v.TryGetValue(out bool on) || !on)
                    continue;
                if (capability == "portMappings" && attachment.PortMappings.Count > 0)
                    runtimeConfig[capability] = new JsonArray(attachment.PortMappings.Select(p => (JsonNode)p.ToJson()).ToArray());
                else if (attachment.Capabilities.TryGetValue(capability, out JsonNode? value))
                    runtimeConfig[capability] = value.DeepClone();
            }
        }
        conf.Remove("runtimeConfig");
        if (runtimeConfig.Count > 0)
            conf["runtimeConfig"] = runtimeConfig;
        return conf;
    }

    private string FindPlugin(string type)
    {
        if (type.Length > 0 && !type.Contains('/') && type is not "." and not "..")
        {
            foreach (string dir in PluginDirs)
            {
                string path = Path.Combine(dir, type);
                if (File.Exists(path))
                    return path;
            }
        }
        throw new CniPluginNotFoundException(type, PluginDirs);
    }

    private async Task<string> InvokeAsync(JsonObject plugin, string command, CniAttachment attachment, JsonObject? prevResult,
        CancellationToken cancellationToken)
    {
        string type = CniConfigList.GetString(plugin, "type")!;
        string binary = FindPlugin(type);
        string stdin = PluginStdin(plugin, attachment, prevResult).ToJsonString();

        var psi = new ProcessStartInfo(binary)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("CNI_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["CNI_COMMAND"] = command;
        psi.Environment["CNI_CONTAINERID"] = attachment.ContainerId;
        psi.Environment["CNI_NETNS"] = attachment.NetnsPath;
        psi.Environment["CNI_IFNAME"] = attachment.IfName;
        psi.Environment["CNI_ARGS"] = string.Join(';', attachment.Args.Select(kv => $"{kv.Key}={kv.Value}"));
        psi.Environment["CNI_PATH"] = string.Join(':', PluginDirs);

        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CniException($"CNI plugin {type} {command}: cannot run {binary}: {e.Message}", e);
        }

        using var kill = cancellationToken.Register(() =>
        {
            try { process.Kill(); } catch (InvalidOperationException) { }
        });
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        Task<string> stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The plugin exited without reading its config; its exit status says why.
        }
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        string output = await stdout.ConfigureAwait(false);
        string errors = await stderr.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();

        if (process.ExitCode == 0)
            return output;
        throw PluginError(type, command, process.ExitCode, output, errors);
    }

    private static CniPluginException PluginError(string type, string command, int exitCode, string stdout, string stderr)
    {
        try
        {
            if (JsonNode.Parse(stdout) is JsonObject error && error["code"] is JsonValue c && c.TryGetValue(out int code))
                return new CniPluginException(type, command, code, CniConfigList.GetString(error, "msg") ?? "", CniConfigList.GetString(error, "details"));
        }
        catch (JsonException)
        {
        }
        string text = (stderr.Trim().Length > 0 ? stderr : stdout).Trim();
        return new CniPluginException(type, command, 999, text.Length > 0 ? text : $"exited with status {exitCode}", null);
    }
}
