using System.Text.Json.Nodes;
using Csrun.Cni;

namespace Csrun.Cri.Tests;

/// <summary>
/// The CNI client driving Debian's real plugins (bridge, host-local, loopback) into network namespaces these
/// tests create and own. Each test has its own bridge (csrt + random), subnet, host-local dataDir and netns
/// directory, and removes all of them, even when it fails. Traffic stays between the test's namespaces.
/// </summary>
public sealed class CniTests : IDisposable
{
    private const string BusyBox = "/bin/busybox";

    private readonly TempDir _dir = new();
    private readonly TempDir _run = new("/run");
    private readonly NetworkNamespaces _netns;
    private readonly string _bridge = Sh.UniqueName("csrt");
    private readonly string _network = Sh.UniqueName("csrt-net-");
    private readonly string _subnetPrefix = $"10.251.{Random.Shared.Next(0, 256)}";
    private readonly List<string> _namespaces = [];

    public CniTests() => _netns = new NetworkNamespaces(_run.Combine("netns"));

    public void Dispose()
    {
        foreach (string id in _namespaces)
            _netns.Remove(id);
        if (_namespaces.Count > 0)
            _netns.ReleaseDirectory();
        Sh.Run("ip", "link", "del", _bridge); // Absent when the test never made it.
        _run.Dispose();
        _dir.Dispose();
    }

    private string DataDir => _dir.Combine("ipam");

    private string NewNamespace()
    {
        string id = Sh.UniqueName("ns");
        string path = _netns.Create(id);
        _namespaces.Add(id);
        return path;
    }

    private CniConfigList BridgeConfig(params string[] extraPlugins) => CniConfigList.Parse($$"""
        {
          "cniVersion": "1.0.0",
          "name": "{{_network}}",
          "plugins": [
            {
              "type": "bridge", "bridge": "{{_bridge}}", "isGateway": false, "ipMasq": false,
              "ipam": { "type": "host-local", "dataDir": "{{DataDir}}", "ranges": [[{ "subnet": "{{_subnetPrefix}}.0/24" }]] }
            },
            { "type": "loopback" }
            {{string.Concat(extraPlugins.Select(p => "," + p))}}
          ]
        }
        """);

    private static string InNetns(string netns, params string[] command) => Sh.Ok("nsenter", [$"--net={netns}", .. command]);

    private string[] Leases() =>
        Directory.Exists(Path.Combine(DataDir, _network))
            ? Directory.GetFiles(Path.Combine(DataDir, _network)).Select(f => Path.GetFileName(f)).Where(f => f.StartsWith(_subnetPrefix, StringComparison.Ordinal)).ToArray()
            : [];

    [Fact]
    public async Task Add_Check_Ping_Del_WithRealPlugins()
    {
        var network = new CniNetwork(BridgeConfig());
        string ns1 = NewNamespace(), ns2 = NewNamespace();
        var a1 = new CniAttachment("csrt-c1-" + _bridge, ns1) { Args = CniAttachment.PodArgs("default", "pod1", "sb1", "uid1") };
        var a2 = new CniAttachment("csrt-c2-" + _bridge, ns2);

        // CHECK right after each ADD: the bridge plugin's CHECK compares the bridge's MAC with the one in the result,
        // and a Linux bridge takes the lowest MAC of its ports, so a later port can change it (a plugin limitation).
        CniResult r1 = await network.AddAsync(a1);
        CniResult? r2 = null;
        try
        {
            await network.CheckAsync(a1, r1);
            r2 = await network.AddAsync(a2);
            await network.CheckAsync(a2, r2);

            string ip1 = r1.PrimaryIp()!, ip2 = r2.PrimaryIp()!;
            Assert.StartsWith(_subnetPrefix + ".", ip1);
            Assert.StartsWith(_subnetPrefix + ".", ip2);
            Assert.NotEqual(ip1, ip2);
            Assert.Contains(r1.Interfaces, i => i.Name == "eth0" && i.Sandbox == ns1);
            Assert.Contains(r1.Interfaces, i => i.Name == _bridge && i.Sandbox is null);

            // What the kernel shows inside the namespace: eth0 with the address, lo up.
            Assert.Contains($"inet {ip1}/24", InNetns(ns1, "ip", "-o", "-4", "addr", "show", "dev", "eth0"));
            Assert.Contains("state UNKNOWN", InNetns(ns1, "ip", "-o", "link", "show", "lo")); // lo reports UNKNOWN when up.
            Assert.Contains("inet 127.0.0.1/8", InNetns(ns1, "ip", "-o", "-4", "addr", "show", "dev", "lo"));
            Assert.Equal(2, Leases().Length);


            InNetns(ns1, BusyBox, "ping", "-c", "1", "-W", "5", ip2);
            InNetns(ns2, BusyBox, "ping", "-c", "1", "-W", "5", ip1);
        }
        finally
        {
            await network.DelAsync(a1, r1);
            await network.DelAsync(a2, r2);
        }

        // The veths went with their namespaces' eth0, and host-local released both addresses.
        string hostVeth = r1.Interfaces.First(i => i.Sandbox is null && i.Name != _bridge).Name;
        Assert.NotEqual(0, Sh.Run("ip", "link", "show", hostVeth).Exit);
        Assert.DoesNotContain("eth0", InNetns(ns1, "ip", "-o", "link"));
        Assert.Empty(Leases());
        Assert.Equal("", Sh.Ok("ip", "-o", "link", "show", "master", _bridge).Trim());

        // DEL again, as a retried StopPodSandbox does: still fine.
        await network.DelAsync(a1, r1);
    }

    [Fact]
    public async Task Add_FailingLaterInTheChain_UndoesTheEarlierPlugins()
    {
        string plugins = FakePlugins();
        var network = new CniNetwork(BridgeConfig("""{ "type": "csrt-fail" }"""), [plugins, .. CniConfigList.DefaultPluginDirs]);
        string ns = NewNamespace();
        var attachment = new CniAttachment("csrt-fail-" + _bridge, ns);

        var e = await Assert.ThrowsAsync<CniPluginException>(() => network.AddAsync(attachment));
        Assert.Equal("csrt-fail", e.Plugin);
        Assert.Equal("ADD", e.Command);
        Assert.Equal(100, e.Code);
        Assert.Equal("no capacity left", e.Msg);
        Assert.Equal("pool csrt is full", e.Details);
        Assert.Contains("CNI plugin csrt-fail ADD failed: no capacity left", e.Message);

        Assert.Empty(Leases());
        Assert.DoesNotContain("eth0", InNetns(ns, "ip", "-o", "link"));
        Assert.Equal("", Sh.Ok("ip", "-o", "link", "show", "master", _bridge).Trim());
    }

    [Fact]
    public async Task RealPluginError_NamesThePluginAndItsMessage()
    {
        var config = CniConfigList.Parse($$"""
            { "cniVersion": "1.0.0", "name": "{{_network}}", "plugins": [ { "type": "bridge", "bridge": "{{_bridge}}",
              "ipam": { "type": "host-local", "dataDir": "{{DataDir}}", "ranges": [[{ "subnet": "not-a-subnet" }]] } } ] }
            """);
        string ns = NewNamespace();
        var e = await Assert.ThrowsAsync<CniPluginException>(() => new CniNetwork(config).AddAsync(new CniAttachment("csrt-x", ns)));
        Assert.Equal("bridge", e.Plugin);
        Assert.Equal("CNI plugin bridge ADD failed: invalid CIDR address: not-a-subnet [code 999]", e.Message);
        Assert.DoesNotContain("eth0", InNetns(ns, "ip", "-o", "link"));
    }

    [Fact]
    public async Task MissingPluginBinary_IsAnErrorNamingIt()
    {
        var config = CniConfigList.Parse("""{ "cniVersion": "1.0.0", "name": "x", "plugins": [ { "type": "csrt-nonexistent" } ] }""");
        var e = await Assert.ThrowsAsync<CniPluginNotFoundException>(() =>
            new CniNetwork(config, ["/usr/lib/cni", _dir.Path]).AddAsync(new CniAttachment("csrt-x", "/proc/self/ns/net")));
        Assert.Equal("csrt-nonexistent", e.Plugin);
        Assert.Equal($"CNI plugin \"csrt-nonexistent\" not found in /usr/lib/cni:{_dir.Path}", e.Message);
    }

    [Fact]
    public async Task Chain_InjectsNameVersionPrevResultArgsAndPortMappings_DelRunsInReverse()
    {
        string plugins = FakePlugins();
        var config = CniConfigList.Parse("""
            { "cniVersion": "1.0.0", "name": "recorded", "plugins": [
              { "type": "csrt-record", "step": 1 },
              { "type": "csrt-record", "step": 2, "capabilities": { "portMappings": true, "bandwidth": true } } ] }
            """);
        var network = new CniNetwork(config, [plugins]);
        var attachment = new CniAttachment("csrt-cid", "/var/run/netns/x", "eth1")
        {
            Args = CniAttachment.PodArgs("kube-system", "dns", "sb", "u1"),
            PortMappings = [new CniPortMapping(8080, 80), new CniPortMapping(5353, 53, "udp", "127.0.0.1")],
        };

        CniResult result = await network.AddAsync(attachment);
        Assert.Equal("10.9.9.2", result.PrimaryIp());
        Assert.Equal("8.8.8.8", Assert.Single(result.Dns.Nameservers));
        Assert.Equal("0.0.0.0/0", Assert.Single(result.Routes).Dst);
        await network.CheckAsync(attachment, result);
        await network.DelAsync(attachment, result);

        string[] calls = File.ReadAllLines(Path.Combine(plugins, "calls"));
        Assert.Equal(["ADD 1", "ADD 2", "CHECK 1", "CHECK 2", "DEL 2", "DEL 1"], calls.Select(c => string.Join(' ', c.Split(' ')[..2])));
        Assert.All(calls, c => Assert.Contains(
            "csrt-cid /var/run/netns/x eth1 IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=dns;K8S_POD_INFRA_CONTAINER_ID=sb;K8S_POD_UID=u1 " + plugins, c));

        JsonObject add1 = Stdin(plugins, "ADD", 1), add2 = Stdin(plugins, "ADD", 2), del1 = Stdin(plugins, "DEL", 1);
        Assert.Equal("recorded", (string?)add1["name"]);
        Assert.Equal("1.0.0", (string?)add1["cniVersion"]);
        Assert.Null(add1["prevResult"]);
        Assert.Null(add1["runtimeConfig"]);
        Assert.Equal("10.9.9.2/24", (string?)add2["prevResult"]!["ips"]![0]!["address"]);
        Assert.Equal("""[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"}]""",
            add2["runtimeConfig"]!["portMappings"]!.ToJsonString());
        Assert.Null(add2["runtimeConfig"]!["bandwidth"]); // Declared, but the runtime passed none.
        Assert.Equal("10.9.9.2/24", (string?)del1["prevResult"]!["ips"]![0]!["address"]);
    }

    /// <summary>
    /// Shell-script plugins: csrt-record logs each call (command, its "step", the CNI_* variables) and its stdin,
    /// and answers ADD with prevResult or a fixed result; csrt-fail answers with a CNI error object.
    /// </summary>
    private string FakePlugins()
    {
        string dir = Directory.CreateDirectory(_dir.Combine("plugins")).FullName;
        File.WriteAllText(Path.Combine(dir, "csrt-record"), $$$"""
            #!/bin/sh
            in=$(cat)
            step=$(printf '%s' "$in" | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
            echo "$CNI_COMMAND $step $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $CNI_ARGS $CNI_PATH" >> {{{dir}}}/calls
            printf '%s' "$in" > {{{dir}}}/$CNI_COMMAND-$step.json
            [ "$CNI_COMMAND" = ADD ] || exit 0
            echo '{"cniVersion":"1.0.0","interfaces":[{"name":"eth1","sandbox":"/var/run/netns/x"}],"ips":[{"address":"10.9.9.2/24","interface":0}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["8.8.8.8"]}}'
            """);
        File.WriteAllText(Path.Combine(dir, "csrt-fail"), """
            #!/bin/sh
            cat > /dev/null
            [ "$CNI_COMMAND" = DEL ] && exit 0
            echo '{"cniVersion":"1.0.0","code":100,"msg":"no capacity left","details":"pool csrt is full"}'
            exit 1
            """);
        foreach (string f in Directory.GetFiles(dir))
            File.SetUnixFileMode(f, (UnixFileMode)0b111_101_101);
        return dir;
    }

    private static JsonObject Stdin(string plugins, string command, int step) =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(plugins, $"{command}-{step}.json")))!;
}
