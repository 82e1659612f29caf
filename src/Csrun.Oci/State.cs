namespace Csrun.Oci;

/// <summary>The state of a container as `state` prints it and hooks read it on stdin (runtime-spec "state").</summary>
public sealed class ContainerState
{
    public string OciVersion { get; set; } = "1.1.0";
    public string Id { get; set; } = "";
    public string Status { get; set; } = "";
    public int Pid { get; set; }
    public string Bundle { get; set; } = "";
    public Dictionary<string, string>? Annotations { get; set; }
}

public static class ContainerStatus
{
    public const string Creating = "creating";
    public const string Created = "created";
    public const string Running = "running";
    public const string Paused = "paused";
    public const string Stopped = "stopped";
}
