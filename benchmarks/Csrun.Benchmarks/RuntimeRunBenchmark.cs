using BenchmarkDotNet.Attributes;

namespace Csrun.Benchmarks;

/// <summary>
/// What the parent hands to BenchmarkDotNet's child processes, through environment variables
/// (the children inherit the environment, and the mount namespace, of the parent).
/// </summary>
public sealed record BenchSettings(IReadOnlyList<(string Name, string Path)> Runtimes, string Bundle, string WorkDir)
{
    public const string RuntimesVar = "CSRUN_BENCH_RUNTIMES";
    public const string BundleVar = "CSRUN_BENCH_BUNDLE";
    public const string WorkVar = "CSRUN_BENCH_WORK";

    public static BenchSettings FromEnvironment()
    {
        string Get(string name) => Environment.GetEnvironmentVariable(name)
            ?? throw new InvalidOperationException($"{name} is not set: run the benchmark through Program.Main (dotnet run -- --rootfs ...)");
        var runtimes = Get(RuntimesVar).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .Select(p => (p[0], p[1]))
            .ToList();
        return new BenchSettings(runtimes, Get(BundleVar), Get(WorkVar));
    }

    public void Export()
    {
        Environment.SetEnvironmentVariable(RuntimesVar, string.Join('\n', Runtimes.Select(r => $"{r.Name}={r.Path}")));
        Environment.SetEnvironmentVariable(BundleVar, Bundle);
        Environment.SetEnvironmentVariable(WorkVar, WorkDir);
    }

    public string PathOf(string runtime) => Runtimes.First(r => r.Name == runtime).Path;
    public string StateDir(string runtime) => System.IO.Path.Combine(WorkDir, "state", runtime);
    public string StderrLog(string runtime) => System.IO.Path.Combine(WorkDir, "logs", runtime + ".stderr");
    public string RssFile(string runtime) => System.IO.Path.Combine(WorkDir, "rss", runtime + ".txt");
}

/// <summary>
/// One sample = one whole `RUNTIME --root STATE run --bundle BUNDLE ID` of /bin/true, from
/// posix_spawn() to wait4() returning, with a fresh container id each time. InvocationCount = 1,
/// so every iteration is exactly one container, and the untimed IterationSetup/IterationCleanup
/// prepare the command line and check that the container is gone.
/// </summary>
public class RuntimeRunBenchmark
{
    private BenchSettings _settings = null!;
    private string _path = "", _state = "";
    private PreparedCommand? _command;
    private string _id = "";
    private int _sequence;
    private SpawnResult _last;

    [ParamsSource(nameof(RuntimeNames))]
    public string Runtime { get; set; } = "";

    public static IEnumerable<string> RuntimeNames() => BenchSettings.FromEnvironment().Runtimes.Select(r => r.Name);

    [GlobalSetup]
    public void GlobalSetup()
    {
        _settings = BenchSettings.FromEnvironment();
        _path = _settings.PathOf(Runtime);
        _state = _settings.StateDir(Runtime);
        Directory.CreateDirectory(_state);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(_settings.StderrLog(Runtime))!);
    }

    [IterationSetup]
    public void IterationSetup()
    {
        _id = $"csrun-bench-{Runtime}-{Environment.ProcessId}-{++_sequence}";
        _command = new PreparedCommand(_path, ["--root", _state, "run", "--bundle", _settings.Bundle, _id], _settings.StderrLog(Runtime));
    }

    [Benchmark(Description = "run /bin/true")]
    public int Run()
    {
        _last = _command!.Run();
        if (!_last.Success) Fail();
        return _last.ExitCode;
    }

    [IterationCleanup]
    public void IterationCleanup()
    {
        _command?.Dispose();
        _command = null;
        // `run` deletes the container when its process exits; if the runtime left it behind,
        // remove it (untimed) so that every sample starts from the same state.
        if (Directory.Exists(System.IO.Path.Combine(_state, _id))) DeleteContainer();
    }

    private void DeleteContainer() =>
        PreparedCommand.RunOnce(_path, ["--root", _state, "delete", "-f", _id], _settings.StderrLog(Runtime) + ".delete");

    private void Fail()
    {
        string stderr = "";
        try { stderr = File.ReadAllText(_settings.StderrLog(Runtime)).Trim(); } catch (IOException) { }
        DeleteContainer();
        throw new InvalidOperationException($"{_command}: {_last}{(stderr.Length > 0 ? ": " + stderr : "")}");
    }
}
