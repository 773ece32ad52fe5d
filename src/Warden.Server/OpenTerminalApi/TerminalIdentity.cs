using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// Establishes the Open WebUI user of a terminal request, in the modes <see cref="OpenTerminalOptions"/> enables:
/// <list type="number">
/// <item>The API key as bearer (or no key configured, on loopback): the connection is Open WebUI's backend and is
/// trusted; the user is <c>X-User-Id</c>, or the forwarded JWT's subject when JWT mode is on (then the JWT is required).</item>
/// <item>Session mode: any other bearer is a user's Open WebUI token, validated at <c>/api/v1/auths/</c>;
/// <c>X-User-Id</c> must name the same user.</item>
/// </list>
/// Pending users are refused in both token modes. Everything else is 401.
/// </summary>
internal sealed class TerminalIdentity
{
    private readonly byte[]? _apiKeyHash;
    private readonly OpenTerminalOptions _options;
    private readonly OpenWebUiTokenValidator _tokens;
    private readonly ForwardedUserJwt? _jwt;

    public TerminalIdentity(IConfiguration configuration, IOptions<OpenTerminalOptions> options, OpenWebUiTokenValidator tokens, TimeProvider time)
    {
        var apiKey = configuration["Warden:ApiKey"];
        if (!string.IsNullOrEmpty(apiKey)) _apiKeyHash = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));
        _options = options.Value;
        _tokens = tokens;
        if (!string.IsNullOrEmpty(_options.ForwardJwtSecret)) _jwt = new ForwardedUserJwt(_options.ForwardJwtSecret, time);
    }

    private bool SessionMode => !string.IsNullOrEmpty(_options.OpenWebUiUrl);

    public async Task<string> AuthenticateAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var bearer = Bearer(request);
        var claimed = request.Headers["X-User-Id"].ToString();
        bool trusted = _apiKeyHash is null ? !SessionMode : bearer is not null && Matches(bearer);
        if (trusted)
        {
            if (_jwt is not null)
            {
                var token = request.Headers[_options.ForwardJwtHeader].ToString();
                if (token.Length == 0) throw new TerminalIdentityException(401, "unauthorized", $"The {_options.ForwardJwtHeader} header is required (forwarded-JWT mode).");
                var user = _jwt.Verify(token);
                RefusePending(user.Role);
                RequireSame(claimed, user.Id);
                return user.Id;
            }
            if (claimed.Length == 0) throw new TerminalIdentityException(400, "missing-user-id", "The X-User-Id header is required: it names the Open WebUI user whose terminal this is.");
            return claimed;
        }
        if (SessionMode && bearer is not null)
        {
            var user = await _tokens.ValidateAsync(bearer, cancellationToken).ConfigureAwait(false);
            RefusePending(user.Role);
            if (claimed.Length == 0) throw new TerminalIdentityException(400, "missing-user-id", "The X-User-Id header is required.");
            RequireSame(claimed, user.Id);
            return user.Id;
        }
        throw new TerminalIdentityException(401, "unauthorized", SessionMode
            ? "A valid Open WebUI token (session auth) or the Warden API key is required: Authorization: Bearer <token>."
            : "A valid API key is required: Authorization: Bearer <WARDEN_API_KEY>.");
    }

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

    private bool Matches(string presented) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), _apiKeyHash!);
}

/// <summary>An Open WebUI user as a token mode established it.</summary>
internal sealed record OpenWebUiUser(string Id, string? Role, string? Name, string? Email);
