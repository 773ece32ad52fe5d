using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Warden.Server.Auth;
using Warden.Server.OpenTerminalApi;

namespace Warden.Server.McpApi;

/// <summary>
/// Forwarded-JWT mode on <c>/mcp</c>, the same as on <c>/terminal</c>: with <c>Warden:OpenTerminal:ForwardJwtSecret</c>
/// set, a key's request names its user by Open WebUI's signed user JWT (the header
/// <c>Warden:OpenTerminal:ForwardJwtHeader</c>), not by a header anyone holding the key could write.
/// </summary>
internal sealed class ForwardedUserIdentity
{
    private readonly OpenTerminalOptions _options;
    private readonly ForwardedUserJwt? _jwt;

    public ForwardedUserIdentity(IOptions<OpenTerminalOptions> options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        if (!string.IsNullOrEmpty(_options.ForwardJwtSecret)) _jwt = new ForwardedUserJwt(_options.ForwardJwtSecret, time);
    }

    /// <summary>The caller with the JWT's user, or null when the mode is off or the caller is no key.</summary>
    /// <exception cref="TerminalIdentityException">The JWT is missing (401), invalid (401), a pending user's (403), or names
    /// another user than <c>X-User-Id</c> (403).</exception>
    public Caller? Resolve(HttpContext context)
    {
        if (_jwt is null || context.Features.Get<Caller>() is not { Authenticated: true } caller) return null;
        var token = context.Request.Headers[_options.ForwardJwtHeader].ToString();
        if (token.Length == 0) throw new TerminalIdentityException(401, "unauthorized", $"The {_options.ForwardJwtHeader} header is required (forwarded-JWT mode).");
        var user = _jwt.Verify(token);
        if (user.Role == "pending") throw new TerminalIdentityException(403, "user-pending", "This Open WebUI account is pending approval.");
        if (caller.UserId is { } claimed && !string.Equals(claimed, user.Id, StringComparison.Ordinal))
            throw new TerminalIdentityException(403, "user-mismatch", "X-User-Id does not match the forwarded user JWT.");
        return caller with { UserId = user.Id };
    }
}
