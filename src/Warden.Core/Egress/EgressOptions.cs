using System.ComponentModel.DataAnnotations;

namespace Warden.Core.Egress;

/// <summary>
/// Configuration section <c>Warden:Egress</c>: what sandboxes may reach through Warden's egress proxy. The lists are
/// comma strings (as their <c>WARDEN_EGRESS_*</c> variables); <see cref="EgressSettings.From"/> parses them, and start-up
/// fails naming the setting when one is malformed (<see cref="EgressOptionsValidator"/>).
/// </summary>
public sealed class EgressOptions
{
    public const string Section = "Warden:Egress";

    /// <summary>The ceiling (<c>WARDEN_EGRESS_ALLOW</c>): comma list of patterns. Empty (the default): no egress at all.</summary>
    public string Allow { get; set; } = "";

    /// <summary><c>WARDEN_EGRESS_HOSTS</c>: <c>name=address</c> comma list; resolves names, never grants them.</summary>
    public string Hosts { get; set; } = "";

    /// <summary><c>WARDEN_EGRESS_ALLOW_PRIVATE</c>: refused ranges that may be dialled, each with an optional port.</summary>
    public string AllowPrivate { get; set; } = "";

    /// <summary>Bytes both ways one grant (an execution, a cell, a command) may move; over it every tunnel closes.</summary>
    [Range(1024, long.MaxValue)] public long MaxBytes { get; set; } = 256L << 20;

    /// <summary>Connections one grant may open in all.</summary>
    [Range(1, 1_000_000)] public int MaxConnections { get; set; } = 256;

    /// <summary>Connections one grant may hold open at once.</summary>
    [Range(1, 65536)] public int MaxConcurrent { get; set; } = 32;

    /// <summary>A tunnel with no byte either way for this long is closed.</summary>
    [Range(1, 86400)] public int IdleTimeoutSeconds { get; set; } = 120;

    /// <summary>How long a name may take to resolve.</summary>
    [Range(1, 60)] public int ResolveTimeoutSeconds { get; set; } = 5;

    /// <summary>How long one connect to one vetted address may take.</summary>
    [Range(1, 60)] public int ConnectTimeoutSeconds { get; set; } = 5;

    /// <summary>How long a client may take to send its request head (or its TLS ClientHello after CONNECT).</summary>
    [Range(1, 60)] public int HeadTimeoutSeconds { get; set; } = 10;

    /// <summary><c>WARDEN_EGRESS_CREDENTIALS_FILE</c>: JSON list of per-host headers the proxy adds (mode 0600).</summary>
    public string? CredentialsFile { get; set; }

    /// <summary><c>WARDEN_EGRESS_UPSTREAM_CA</c>: PEM file of extra CAs trusted when the proxy itself speaks TLS upstream.</summary>
    public string? UpstreamCa { get; set; }
}
