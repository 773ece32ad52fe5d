using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Warden.Server.Auth;
using Warden.Server.Hosting;

namespace Warden.Server.JupyterApi;

/// <summary>
/// Jupyter's ways of authenticating, accepted on the Jupyter routes only: the API key as a token
/// (<c>?token=</c>, <c>Authorization: token …</c> or <c>Bearer …</c>), or a password login cookie. Cookie-authenticated
/// requests that change state must echo the <c>_xsrf</c> cookie in <c>X-XSRFToken</c> (as Jupyter requires).
/// Keys from the key store with the <c>execute</c> scope are accepted as tokens too.
/// With no API key, no stored key and no password configured, the Jupyter routes are open (the server then only binds loopback).
/// </summary>
internal sealed class JupyterAuth
{
    public const string XsrfCookie = "_xsrf";
    public const string LoginCookie = "warden-jupyter-login";
    private readonly byte[]? _apiKeyHash;
    private readonly byte[]? _passwordHash;
    private readonly ISigningKeys _keys;
    private readonly TimeSpan _loginLifetime;

    private readonly ApiKeyStore _store;

    public JupyterAuth(IConfiguration configuration, IOptions<JupyterOptions> options, ApiKeyStore store, ISigningKeys keys)
    {
        _store = store;
        _keys = keys;
        var apiKey = configuration["Warden:ApiKey"];
        if (!string.IsNullOrEmpty(apiKey)) _apiKeyHash = Hash(apiKey);
        if (!string.IsNullOrEmpty(options.Value.Password)) _passwordHash = Hash(options.Value.Password);
        _loginLifetime = TimeSpan.FromHours(options.Value.LoginHours);
    }

    private bool Configured => _apiKeyHash is not null || _passwordHash is not null;

    public bool PasswordEnabled => _passwordHash is not null;

    public async ValueTask<bool> IsAuthorizedAsync(HttpContext context, CancellationToken cancellationToken)
    {
        bool storeKeys = await _store.KeysExistAsync(cancellationToken);
        if (!Configured && !storeKeys) return true;
        var request = context.Request;
        if (PresentedToken(request) is { } token)
        {
            if (_apiKeyHash is not null && Matches(token, _apiKeyHash)) return true;
            if (storeKeys && await _store.AuthenticateAsync(token, cancellationToken) is { } key
                && ApiKeyScopes.Grants(key.Scopes.ToList(), ApiKeyScopes.Execute)) return true;
        }
        if (_passwordHash is null || !ValidLogin(request.Cookies[LoginCookie])) return false;
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)) return true;
        var cookie = request.Cookies[XsrfCookie];
        var echoed = request.Headers["X-XSRFToken"].ToString();
        if (string.IsNullOrEmpty(echoed)) echoed = request.Headers["X-CSRFToken"].ToString();
        return !string.IsNullOrEmpty(cookie) && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(cookie), Encoding.UTF8.GetBytes(echoed));
    }

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
        if (!long.TryParse(expires, out var unix) || DateTimeOffset.FromUnixTimeSeconds(unix) < DateTimeOffset.UtcNow) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(expires)), Encoding.ASCII.GetBytes(cookie[(dot + 1)..]));
    }

    private string Sign(string value) => Convert.ToHexStringLower(HMACSHA256.HashData(_keys.For("jupyter-login"), Encoding.UTF8.GetBytes(value)));

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
