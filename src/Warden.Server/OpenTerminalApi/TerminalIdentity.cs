using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Warden.Core.Ownership;
using Warden.Server.Auth;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// Establishes the principal of a terminal request — the tenant and the Open WebUI user — in the modes
/// <see cref="OpenTerminalOptions"/> enables:
/// <list type="number">
/// <item>An API key as bearer, the bootstrap key or a stored key with the execute scope (or no key configured at all,
/// on loopback): the connection is a trusted backend such as Open WebUI's; the tenant is the key's, the user is
/// <c>X-User-Id</c>, or the forwarded JWT's subject when JWT mode is on (then the JWT is required).</item>
/// <item>Session mode: any other bearer is a user's Open WebUI token, validated at <c>/api/v1/auths/</c>;
/// <c>X-User-Id</c> must name the same user. Such users are the server's own tenant's.</item>
/// </list>
/// Pending users are refused in both token modes. Everything else is 401.
/// </summary>
internal sealed class TerminalIdentity
{
    private readonly OpenTerminalOptions _options;
    private readonly OpenWebUiTokenValidator _tokens;
    private readonly ForwardedUserJwt? _jwt;

    public TerminalIdentity(IOptions<OpenTerminalOptions> options, OpenWebUiTokenValidator tokens, TimeProvider time)
    {
        _options = options.Value;
        _tokens = tokens;
        if (!string.IsNullOrEmpty(_options.ForwardJwtSecret)) _jwt = new ForwardedUserJwt(_options.ForwardJwtSecret, time);
    }

    private bool SessionMode => !string.IsNullOrEmpty(_options.OpenWebUiUrl);

    public async Task<Principal> AuthenticateAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var request = context.Request;
        // The API-key middleware has already authenticated a key bearer (or, with no key anywhere, set an anonymous caller).
        var caller = context.Features.Get<Caller>();
        bool trusted = caller is { Authenticated: true } ? ApiKeyScopes.Grants(caller.Scopes, ApiKeyScopes.Execute) : caller is not null && !SessionMode;
        var claimed = request.Headers[Caller.UserHeader].ToString();
        if (trusted)
        {
            var tenant = caller!.Tenant;
            if (_jwt is not null)
            {
                var token = request.Headers[_options.ForwardJwtHeader].ToString();
                if (token.Length == 0) throw new TerminalIdentityException(401, "unauthorized", $"The {_options.ForwardJwtHeader} header is required (forwarded-JWT mode).");
                var user = _jwt.Verify(token);
                RefusePending(user.Role);
                RequireSame(claimed, user.Id);
                return For(tenant, user.Id);
            }
            if (claimed.Length == 0) throw new TerminalIdentityException(400, "missing-user-id", "The X-User-Id header is required: it names the Open WebUI user whose terminal this is.");
            return For(tenant, claimed);
        }
        if (caller is { Authenticated: true })
            throw new TerminalIdentityException(403, "forbidden", $"This API key lacks the '{ApiKeyScopes.Execute}' scope.");
        if (SessionMode && Bearer(request) is { } bearer)
        {
            var user = await _tokens.ValidateAsync(bearer, cancellationToken).ConfigureAwait(false);
            RefusePending(user.Role);
            if (claimed.Length == 0) throw new TerminalIdentityException(400, "missing-user-id", "The X-User-Id header is required.");
            RequireSame(claimed, user.Id);
            return For(Principal.ServerTenant, user.Id);
        }
        throw new TerminalIdentityException(401, "unauthorized", SessionMode
            ? "A valid Open WebUI token (session auth) or a Warden API key is required: Authorization: Bearer <token>."
            : "A valid API key is required: Authorization: Bearer <key>.");
    }

    private static Principal For(string tenant, string userId) =>
        Principal.IsValidName(userId) ? new Principal(tenant, userId)
            : throw new TerminalIdentityException(400, "invalid-user-id", $"The user id must be 1 to {Principal.MaxUserLength} characters without control characters.");

    private static void RefusePending(string? role)
    {
        if (role == "pending") throw new TerminalIdentityException(403, "user-pending", "This Open WebUI account is pending approval and may not use the terminal.");
    }

    private static void RequireSame(string claimed, string actual)
    {
        if (claimed.Length > 0 && !string.Equals(claimed, actual, StringComparison.Ordinal))
            throw new TerminalIdentityException(403, "user-mismatch", "X-User-Id does not match the authenticated user.");
    }

    private static string? Bearer(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        var token = header[scheme.Length..].Trim();
        return token.Length == 0 ? null : token;
    }

}

/// <summary>An Open WebUI user as a token mode established it.</summary>
internal sealed record OpenWebUiUser(string Id, string? Role, string? Name, string? Email);
