using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Warden.Server.Auth;
using Warden.Server.Hosting;

namespace Warden.Server.JupyterApi;

/// <summary>
/// Jupyter's ways of authenticating, accepted on the Jupyter routes only: an API key as a token (<c>?token=</c>,
/// <c>Authorization: token …</c> or <c>Bearer …</c>) — the bootstrap key, or a stored key with the <c>execute</c> scope,
/// each key its own tenant — or a password login cookie (a tenant of its own, user <see cref="JupyterOptions.User"/>).
/// Cookie-authenticated requests that change state must echo the <c>_xsrf</c> cookie in <c>X-XSRFToken</c> (as Jupyter
/// requires). Password attempts are throttled per client address. With no API key, no stored key and no password
/// configured, the Jupyter routes are open (the server then only binds loopback).
/// </summary>
internal sealed class JupyterAuth : IDisposable
{
    public const string XsrfCookie = "_xsrf";
    public const string LoginCookie = "warden-jupyter-login";

    /// <summary>Password attempts a client may make in a burst, and how often one more is allowed after that.</summary>
    public const int LoginBurst = 10;
    public static readonly TimeSpan LoginReplenish = TimeSpan.FromSeconds(6);

    private readonly byte[]? _apiKeyHash;
    private readonly byte[]? _passwordHash;
    private readonly ISigningKeys _keys;
    private readonly TimeSpan _loginLifetime;
    private readonly ApiKeyStore _store;
    private readonly PartitionedRateLimiter<string> _logins;

    public JupyterAuth(IConfiguration configuration, IOptions<JupyterOptions> options, ApiKeyStore store, ISigningKeys keys)
    {
        _store = store;
        _keys = keys;
        var apiKey = configuration["Warden:ApiKey"];
        if (!string.IsNullOrEmpty(apiKey)) _apiKeyHash = Hash(apiKey);
        if (!string.IsNullOrEmpty(options.Value.Password)) _passwordHash = Hash(options.Value.Password);
        _loginLifetime = TimeSpan.FromHours(options.Value.LoginHours);
        _logins = PartitionedRateLimiter.Create<string, string>(client => RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = LoginBurst, TokensPerPeriod = 1, ReplenishmentPeriod = LoginReplenish, QueueLimit = 0, AutoReplenishment = true,
        }));
    }

    private bool Configured => _apiKeyHash is not null || _passwordHash is not null;

    public bool PasswordEnabled => _passwordHash is not null;

    /// <summary>The caller a Jupyter request authenticates as, or null (403).</summary>
    public async ValueTask<Caller?> AuthenticateAsync(HttpContext context, CancellationToken cancellationToken)
    {
        bool storeKeys = await _store.KeysExistAsync(cancellationToken);
        if (!Configured && !storeKeys) return Caller.Anonymous(context, ApiKeyScopes.All);
        var request = context.Request;
        if (PresentedToken(request) is { } token)
            return await AuthenticationMiddleware.AuthenticateTokenAsync(context, token, _store, _apiKeyHash, cancellationToken) is { } keyCaller
                && ApiKeyScopes.Grants(keyCaller.Scopes, ApiKeyScopes.Execute) ? keyCaller : null;
        if (_passwordHash is null || !ValidLogin(request.Cookies[LoginCookie])) return null;
        var login = new Caller(Caller.JupyterPasswordId, [ApiKeyScopes.Execute], null, Caller.ClientAddress(context));
        // A WebSocket handshake is a GET that XSRF does not cover and CORS does not restrict: a page of another origin
        // would ride on the cookie. As jupyter_server's check_origin: a browser's Origin must be this server's own.
        if (context.WebSockets.IsWebSocketRequest && !SameOrigin(request)) return null;
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)) return login;
        var cookie = request.Cookies[XsrfCookie];
        var echoed = request.Headers["X-XSRFToken"].ToString();
        if (string.IsNullOrEmpty(echoed)) echoed = request.Headers["X-CSRFToken"].ToString();
        return !string.IsNullOrEmpty(cookie) && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(cookie), Encoding.UTF8.GetBytes(echoed))
            ? login : null;
    }

    /// <summary>Whether the request presented credentials at all (a token or a login cookie): refused ones are 401, none 403.</summary>
    public static bool PresentedCredentials(HttpRequest request) =>
        PresentedToken(request) is not null || !string.IsNullOrEmpty(request.Cookies[LoginCookie]);

    /// <summary>Whether <paramref name="client"/> may try a password now; each attempt spends one of its allowance.</summary>
    public bool TryLoginAttempt(string client, out TimeSpan retryAfter)
    {
        using var lease = _logins.AttemptAcquire(client);
        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : LoginReplenish;
        return lease.IsAcquired;
    }

    public void Dispose() => _logins.Dispose();

    /// <summary>A login cookie this server issued and that has not expired (whatever the XSRF echo).</summary>
    public bool HasValidLogin(HttpRequest request) => _passwordHash is not null && PresentedToken(request) is null && ValidLogin(request.Cookies[LoginCookie]);

    public bool CheckPassword(string? password) => _passwordHash is not null && password is not null && Matches(password, _passwordHash);

    /// <summary>A login cookie value: expiry (unix seconds) and its HMAC (under a key per process, or per cluster: <see cref="ISigningKeys"/>).</summary>
    public string IssueLogin()
    {
        var expires = DateTimeOffset.UtcNow.Add(_loginLifetime).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        return expires + "." + Sign(expires);
    }

    public static string NewXsrfToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    private bool ValidLogin(string? cookie)
    {
        if (string.IsNullOrEmpty(cookie)) return false;
        var dot = cookie.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0) return false;
        var expires = cookie[..dot];
        // Any number parses; only a time within DateTimeOffset's range can be compared (a crafted 999999999999999 was a 500).
        if (!long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var unix) || unix > DateTimeOffset.MaxValue.ToUnixTimeSeconds()
            || DateTimeOffset.FromUnixTimeSeconds(unix) < DateTimeOffset.UtcNow) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(expires)), Encoding.ASCII.GetBytes(cookie[(dot + 1)..]));
    }

    private string Sign(string value) => Convert.ToHexStringLower(HMACSHA256.HashData(_keys.KeyFor("jupyter-login"), Encoding.UTF8.GetBytes(value)));

    /// <summary>No Origin (not a browser: Open WebUI's backend, kernel clients) or one naming the host the request was sent to.</summary>
    private static bool SameOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0) return true;
        return Uri.TryCreate(origin, UriKind.Absolute, out var uri)
            && string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }

    private static string? PresentedToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        foreach (var scheme in new[] { "token ", "Bearer " })
            if (header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return header[scheme.Length..].Trim();
        var query = request.Query["token"].ToString();
        return query.Length > 0 ? query : null;
    }

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    private static bool Matches(string presented, byte[] expectedHash) => CryptographicOperations.FixedTimeEquals(Hash(presented), expectedHash);
}
