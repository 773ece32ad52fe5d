using Microsoft.AspNetCore.Http;
using Warden.Core.Execution;
using Warden.Core.Ownership;

namespace Warden.Server.Auth;

/// <summary>
/// Who made a request, as far as Warden can tell: the key (id only), its scopes, the end user (the <c>X-User-Id</c>
/// header, believed only from an authenticated caller: a trusted front end such as Open WebUI) and the client address.
/// </summary>
public sealed record Caller(string? KeyId, IReadOnlyCollection<string> Scopes, string? UserId, string ClientIp)
{
    public const string UserHeader = "X-User-Id";
    public const string BootstrapKeyId = "bootstrap";

    /// <summary>The key id of a Jupyter password login (no key at all: the password is its credential).</summary>
    public const string JupyterPasswordId = "jupyter-password";

    public bool Authenticated => KeyId is not null;

    public bool IsAdmin => Scopes.Contains(ApiKeyScopes.Admin);

    /// <summary>
    /// The tenant this caller's objects belong to: its stored key's, or the server's own for the bootstrap key and for
    /// no key at all (see <see cref="Principal.ServerTenant"/>).
    /// </summary>
    public string Tenant => KeyId switch
    {
        null or BootstrapKeyId => Principal.ServerTenant,
        JupyterPasswordId => Principal.JupyterPasswordTenant,
        _ => Principal.KeyTenant(KeyId),
    };

    /// <summary>
    /// The one mapping from a caller to what it may reach (every surface uses it): the principal is the tenant and the
    /// user the trusted <c>X-User-Id</c> names, else <paramref name="namedUser"/> (a name the request itself gives inside
    /// its key's namespace, e.g. a session's <c>user</c> field), else <paramref name="surfaceUser"/> (a surface's
    /// configured default), else <see cref="Principal.DefaultUser"/>. Only an admin key naming no user sees everything; a
    /// caller of a server without keys, naming no user, sees its whole (one) tenant.
    /// </summary>
    /// <exception cref="InvalidRequestException">The named user is not a valid user id, or contradicts <c>X-User-Id</c>.</exception>
    public Requester Requester(string? namedUser = null, string? surfaceUser = null, string parameter = "user")
    {
        var named = string.IsNullOrWhiteSpace(namedUser) ? null : namedUser.Trim();
        if (named is not null && !Principal.IsValidName(named))
            throw new InvalidRequestException($"{parameter} must be 1 to {Principal.MaxUserLength} characters without control characters.", parameter);
        if (UserId is not null && named is not null && !string.Equals(UserId, named, StringComparison.Ordinal))
            throw new InvalidRequestException($"{parameter} '{named}' contradicts the {UserHeader} header; leave it out or give the same user.", parameter);
        var user = UserId ?? named ?? (Principal.IsValidName(surfaceUser) ? surfaceUser : null) ?? Principal.DefaultUser;
        bool asItself = UserId is null && named is null;
        return new Requester(new Principal(Tenant, user), SeesEverything: Authenticated && IsAdmin && asItself, SeesTenant: !Authenticated && asItself);
    }

    /// <summary>The caller set on the request by <see cref="AuthenticationMiddleware"/> (anonymous when auth is off).</summary>
    public static Caller Of(HttpContext context) =>
        context.Features.Get<Caller>() ?? Anonymous(context, ApiKeyScopes.All);

    public static Caller Anonymous(HttpContext context, IReadOnlyCollection<string> scopes) =>
        new(null, scopes, null, ClientAddress(context));

    public static string ClientAddress(HttpContext context)
    {
        var address = context.Connection.RemoteIpAddress;
        if (address is null) return "unknown";
        return (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();
    }

    /// <summary>The <c>X-User-Id</c> header, for an authenticated caller; null when absent.</summary>
    /// <exception cref="InvalidRequestException">Present but not a valid user id: a caller that names a user must name one exactly.</exception>
    public static string? TrustedUser(HttpContext context)
    {
        var values = context.Request.Headers[UserHeader];
        if (values.Count == 0) return null;
        var value = values.Count == 1 ? values[0]?.Trim() : null;
        if (!Principal.IsValidName(value))
            throw new InvalidRequestException($"{UserHeader} must be one user id of 1 to {Principal.MaxUserLength} characters without control characters.", UserHeader);
        return value;
    }
}
