using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Warden.Core.Ownership;
using Warden.Server.Auth;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// Who attaches to an interactive terminal's WebSocket. The credential is the first frame's token (browsers cannot set
/// headers on a WebSocket), judged as <see cref="TerminalIdentity"/> judges a bearer: a Warden API key with the execute
/// scope (or none configured, on loopback) is a trusted backend whose user is <c>X-User-Id</c> or, since Open WebUI's
/// WebSocket proxy sends no headers, <c>?user_id=</c>; in session mode a user's Open WebUI token names the user itself.
/// </summary>
internal sealed class TerminalSocketIdentity(IConfiguration configuration, ApiKeyStore store, OpenWebUiTokenValidator tokens,
    IOptions<OpenTerminalOptions> options)
{
    private readonly byte[]? _bootstrap = string.IsNullOrEmpty(configuration["Warden:ApiKey"]) ? null
        : SHA256.HashData(Encoding.UTF8.GetBytes(configuration["Warden:ApiKey"]!));

    /// <summary>The outcome: not authenticated (4001), or authenticated as a principal (null when the attach names no usable user: 4004).</summary>
    public sealed record Result(bool Authenticated, Principal? Owner);

    public async Task<Result> AuthenticateAsync(HttpContext context, string token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var claimed = context.Request.Headers[Caller.UserHeader].ToString();
        if (claimed.Length == 0) claimed = context.Request.Query["user_id"].ToString();
        bool sessionMode = !string.IsNullOrEmpty(options.Value.OpenWebUiUrl);
        if (token.Length == 0) return new Result(false, null);
        if (_bootstrap is null && !await store.KeysExistAsync(cancellationToken).ConfigureAwait(false))
        {
            // No key anywhere (the server then binds loopback only): as on HTTP, the backend is trusted to name the user.
            if (!sessionMode) return new Result(true, For(Principal.ServerTenant, claimed));
        }
        else if (await AuthenticationMiddleware.AuthenticateTokenAsync(context, token, store, _bootstrap, cancellationToken).ConfigureAwait(false) is { } key)
        {
            return ApiKeyScopes.Grants(key.Scopes, ApiKeyScopes.Execute) ? new Result(true, For(key.Tenant, claimed)) : new Result(false, null);
        }
        if (!sessionMode) return new Result(false, null);
        OpenWebUiUser user;
        try
        {
            user = await tokens.ValidateAsync(token, cancellationToken).ConfigureAwait(false);
        }
        catch (TerminalIdentityException)
        {
            return new Result(false, null);
        }
        if (user.Role == "pending") return new Result(false, null);
        // A token of one user naming another is an attach to somebody else's terminal: it is answered like a missing one.
        if (claimed.Length > 0 && !string.Equals(claimed, user.Id, StringComparison.Ordinal)) return new Result(true, null);
        return new Result(true, For(Principal.ServerTenant, user.Id));
    }

    private static Principal? For(string tenant, string user) => Principal.IsValidName(user) ? new Principal(tenant, user) : null;
}
