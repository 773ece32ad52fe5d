using Microsoft.Extensions.Options;

namespace Warden.Server.OpenTerminalApi;

/// <summary>Rules the attributes cannot express: a usable Open WebUI URL and a JWT secret long enough to be one.</summary>
internal sealed class OpenTerminalOptionsValidator : IValidateOptions<OpenTerminalOptions>
{
    public ValidateOptionsResult Validate(string? name, OpenTerminalOptions options)
    {
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(options.OpenWebUiUrl)
            && (!Uri.TryCreate(options.OpenWebUiUrl, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https")))
            errors.Add($"Warden:OpenTerminal:OpenWebUiUrl (WARDEN_OPEN_WEBUI_URL) must be an absolute http(s) URL (got '{options.OpenWebUiUrl}').");
        if (options.ForwardJwtSecret is { Length: > 0 and < 16 })
            errors.Add("Warden:OpenTerminal:ForwardJwtSecret (WARDEN_FORWARD_JWT_SECRET) must be at least 16 characters: it is an HMAC key.");
        if (options.BasePath.TrimEnd('/') is "" or "/api" || options.BasePath.StartsWith("/api/", StringComparison.Ordinal))
            errors.Add($"Warden:OpenTerminal:BasePath must not be the root or under /api (the native and Jupyter APIs live there); got '{options.BasePath}'.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
