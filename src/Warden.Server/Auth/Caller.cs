using Microsoft.AspNetCore.Http;

namespace Warden.Server.Auth;

/// <summary>
/// Who made a request, as far as Warden can tell: the key (id only), its scopes, the end user (the <c>X-User-Id</c>
/// header, believed only from an authenticated caller: a trusted front end such as Open WebUI) and the client address.
/// </summary>
public sealed record Caller(string? KeyId, IReadOnlyCollection<string> Scopes, string? UserId, string ClientIp)
{
    public const string UserHeader = "X-User-Id";
    public const string BootstrapKeyId = "bootstrap";

    public bool Authenticated => KeyId is not null;

    public bool IsAdmin => Scopes.Contains(ApiKeyScopes.Admin);

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

    public static string? TrustedUser(HttpContext context)
    {
        var value = context.Request.Headers[UserHeader].ToString().Trim();
        return value.Length is > 0 and <= 256 ? value : null;
    }
}
