using System.ComponentModel.DataAnnotations;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// Configuration section <c>Warden:OpenTerminal</c>: the Open-Terminal-compatible surface and how it learns who the
/// Open WebUI user is. Identity modes, by what is set: an API key with a trusted <c>X-User-Id</c> (always available);
/// session mode when <see cref="OpenWebUiUrl"/> is set; forwarded JWT when <see cref="ForwardJwtSecret"/> is set.
/// </summary>
public sealed class OpenTerminalOptions
{
    public const string Section = "Warden:OpenTerminal";

    /// <summary>Whether the surface is served at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Where the surface is mounted. Not the root: open-terminal's <c>/api/config</c> and <c>/health</c> would collide
    /// with the Jupyter API's <c>/api</c>. Open WebUI takes any base URL, so the connection URL is <c>http://host:port/terminal</c>.
    /// </summary>
    [Required, RegularExpression("^(/[A-Za-z0-9._-]+)+$")] public string BasePath { get; set; } = "/terminal";

    /// <summary>Open WebUI's base URL (WARDEN_OPEN_WEBUI_URL): bearer tokens that are not the API key are validated at <c>{url}/api/v1/auths/</c>.</summary>
    public string? OpenWebUiUrl { get; set; }

    /// <summary>How long a validated token is trusted before it is checked again.</summary>
    [Range(0, 3600)] public double TokenCacheSeconds { get; set; } = 60;

    /// <summary>Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET (WARDEN_FORWARD_JWT_SECRET): the user comes from the HS256 JWT it signs.</summary>
    public string? ForwardJwtSecret { get; set; }

    /// <summary>The header carrying the forwarded JWT (Open WebUI's FORWARD_USER_INFO_HEADER_JWT).</summary>
    [Required] public string ForwardJwtHeader { get; set; } = "X-OpenWebUI-User-Jwt";

    /// <summary>Extra text appended to the system prompt served at <c>/system</c>.</summary>
    public string? SystemPromptExtra { get; set; }
}
