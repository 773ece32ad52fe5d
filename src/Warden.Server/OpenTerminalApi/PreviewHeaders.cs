using Microsoft.AspNetCore.Http;

namespace Warden.Server.OpenTerminalApi;

/// <summary>The configured preview headers (<see cref="OpenTerminalUiOptions.PreviewHeaders"/>), replacing whatever the sandboxed server said.</summary>
internal static class PreviewHeaders
{
    public static void Apply(IHeaderDictionary headers, OpenTerminalUiOptions options)
    {
        foreach (var (name, value) in options.PreviewHeaders)
        {
            headers.Remove(name);
            if (!string.IsNullOrEmpty(value)) headers[name] = value;
        }
        // A preview may never set or clear cookies on the origin that serves it (Open WebUI's, or this server's).
        headers.Remove("Set-Cookie");
        headers.Remove("Clear-Site-Data");
    }
}
