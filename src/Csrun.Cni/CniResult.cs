using System.Text.Json;
using System.Text.Json.Nodes;

namespace Csrun.Cni;

/// <summary>
/// A plugin chain's result (CNI 1.0 result type; 0.3.x/0.4.0 results parse too). <see cref="Json"/> is kept as the
/// plugin wrote it: it is what CHECK and DEL pass back as prevResult.
/// </summary>
public sealed class CniResult
{
    private CniResult(JsonObject json)
    {
        Json = json;
        CniVersion = CniConfigList.GetString(json, "cniVersion") ?? "";
        Interfaces = Items(json, "interfaces", o => new CniInterface(
            CniConfigList.GetString(o, "name") ?? "", CniConfigList.GetString(o, "mac"), CniConfigList.GetString(o, "sandbox")));
        Ips = Items(json, "ips", o => new CniIp(
            CniConfigList.GetString(o, "address") ?? "", CniConfigList.GetString(o, "gateway"),
            o["interface"] is JsonValue v && v.TryGetValue(out int i) ? i : null));
        Routes = Items(json, "routes", o => new CniRoute(CniConfigList.GetString(o, "dst") ?? "", CniConfigList.GetString(o, "gw")));
        Dns = json["dns"] is JsonObject dns
            ? new CniDns(Strings(dns, "nameservers"), CniConfigList.GetString(dns, "domain"), Strings(dns, "search"), Strings(dns, "options"))
            : new CniDns([], null, [], []);
    }

    public string CniVersion { get; }
    public IReadOnlyList<CniInterface> Interfaces { get; }
    public IReadOnlyList<CniIp> Ips { get; }
    public IReadOnlyList<CniRoute> Routes { get; }
    public CniDns Dns { get; }
    public JsonObject Json { get; }

    /// <summary>The first address on an interface inside the namespace (the pod IP), without its prefix length.</summary>
    public string? PrimaryIp(bool ipv6 = false)
    {
        foreach (CniIp ip in Ips)
        {
            bool inSandbox = ip.Interface is int i && i < Interfaces.Count ? Interfaces[i].Sandbox is not null : true;
            string address = ip.Address.Split('/')[0];
            if (inSandbox && address.Contains(':') == ipv6)
                return address;
        }
        return null;
    }

    public static CniResult Parse(string json)
    {
        try
        {
            return new CniResult(JsonNode.Parse(json) as JsonObject ?? throw new CniException("CNI result: not a JSON object"));
        }
        catch (JsonException e)
        {
            throw new CniException($"CNI result: {e.Message}", e);
        }
    }

    public override string ToString() => Json.ToJsonString();

    private static List<T> Items<T>(JsonObject json, string key, Func<JsonObject, T> make) =>
        json[key] is JsonArray a ? a.OfType<JsonObject>().Select(make).ToList() : [];

    private static List<string> Strings(JsonObject json, string key) =>
        json[key] is JsonArray a ? a.OfType<JsonValue>().Select(v => v.TryGetValue(out string? s) ? s : null).OfType<string>().ToList() : [];
}

/// <param name="Sandbox">The netns path for interfaces inside the container; null for host-side ones (the bridge, veth peers).</param>
public sealed record CniInterface(string Name, string? Mac, string? Sandbox);

/// <param name="Address">CIDR notation, e.g. 10.88.0.5/16.</param>
/// <param name="Interface">Index into <see cref="CniResult.Interfaces"/>.</param>
public sealed record CniIp(string Address, string? Gateway, int? Interface);

public sealed record CniRoute(string Dst, string? Gw);

public sealed record CniDns(IReadOnlyList<string> Nameservers, string? Domain, IReadOnlyList<string> Search, IReadOnlyList<string> Options);
