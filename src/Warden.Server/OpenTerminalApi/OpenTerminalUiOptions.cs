using System.ComponentModel.DataAnnotations;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// The parts of section <c>Warden:OpenTerminal</c> that serve Open WebUI's interface: operator text for <c>/info</c>,
/// archive and preview caps, and the headers every preview answer (<c>/proxy/…</c>, <c>/files/serve/…</c>) carries.
/// </summary>
public sealed class OpenTerminalUiOptions
{
    /// <summary>Operator text about this environment (open-terminal's OPEN_TERMINAL_INFO). <c>/info</c> exists only when it is set.</summary>
    public string? Info { get; set; }

    /// <summary>The most bytes an archive may read from the files or send (whichever comes first); past it the download is cut off.</summary>
    [Range(1024, 1L << 40)] public long MaxArchiveBytes { get; set; } = 256L << 20;

    /// <summary>The largest request or response body a preview relays; past it the answer is cut off (413 for a request).</summary>
    [Range(1024, 1L << 40)] public long MaxPreviewBodyBytes { get; set; } = 64L << 20;

    /// <summary>How long a preview waits for the server in the sandbox to accept, then for its answer's headers (504 after).</summary>
    [Range(1, 3600)] public double PreviewTimeoutSeconds { get; set; } = 60;

    /// <summary>
    /// Headers set on every preview answer, replacing the sandboxed server's own (an empty value removes one). The
    /// defaults are what Open WebUI's port preview sets (PR #28632): the page runs in an opaque origin, so it can reach
    /// neither Open WebUI's cookies and storage nor this server's other routes with the user's credentials.
    /// </summary>
    public Dictionary<string, string> PreviewHeaders { get; set; } = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Content-Security-Policy"] = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads",
        ["X-Content-Type-Options"] = "nosniff",
        ["Referrer-Policy"] = "no-referrer",
        ["Cache-Control"] = "no-store",
        ["Cross-Origin-Resource-Policy"] = "cross-origin",
    };
}
