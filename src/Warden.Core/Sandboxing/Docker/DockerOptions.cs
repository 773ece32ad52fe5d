using System.ComponentModel.DataAnnotations;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>Configuration section <c>Warden:Docker</c>.</summary>
public sealed class DockerOptions
{
    public const string Section = "Warden:Docker";

    /// <summary>The Engine API socket; <c>DOCKER_HOST=unix://…</c> is honoured when this is not set.</summary>
    public string? Socket { get; set; }

    /// <summary>The runtime image (built by deploy/runtime-image/build.sh: Debian + the catalog's interpreters).</summary>
    [Required] public string Image { get; set; } = "warden-runtime:latest";

    /// <summary>OCI runtime: empty for the daemon's default (runc), or e.g. <c>runsc</c> for Docker + gVisor.</summary>
    public string Runtime { get; set; } = "";

    // No User: every container runs under a host uid of its own from Warden:SandboxUidBase's range. Warden:Docker:User
    // (one uid for every container) is a retired setting, ignored with a warning (Configuration/RetiredSettings).

    public string SocketPath() =>
        Socket ?? (Environment.GetEnvironmentVariable("DOCKER_HOST") is { } host && host.StartsWith("unix://", StringComparison.Ordinal)
            ? host["unix://".Length..]
            : "/var/run/docker.sock");
}
