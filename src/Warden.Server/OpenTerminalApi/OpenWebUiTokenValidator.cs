using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// Session mode: validates a user's Open WebUI token by calling <c>GET {OpenWebUiUrl}/api/v1/auths/</c> with it, as
/// open-webui/terminals does. Results are cached by the token's SHA-256 (never the token itself) for
/// <see cref="OpenTerminalOptions.TokenCacheSeconds"/>; the cache is cleared when it reaches 10 000 entries.
/// </summary>
internal sealed class OpenWebUiTokenValidator(IHttpClientFactory clients, IOptions<OpenTerminalOptions> options, TimeProvider time)
{
    public const string ClientName = "open-webui";
    private const int MaxCached = 10_000;
    private readonly ConcurrentDictionary<string, (OpenWebUiUser User, DateTimeOffset Expires)> _cache = new(StringComparer.Ordinal);

    public async Task<OpenWebUiUser> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        var now = time.GetUtcNow();
        if (_cache.TryGetValue(key, out var cached) && cached.Expires > now) return cached.User;

        var url = options.Value.OpenWebUiUrl!.TrimEnd('/') + "/api/v1/auths/";
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        HttpResponseMessage response;
        try
        {
            response = await clients.CreateClient(ClientName).SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new TerminalIdentityException(502, "open-webui-unreachable", $"Open WebUI at {options.Value.OpenWebUiUrl} could not be reached to validate the token.");
        }
        using (response)
        {
            if (response.StatusCode != HttpStatusCode.OK) throw new TerminalIdentityException(401, "invalid-token", "Invalid token: Open WebUI did not accept it.");
            OpenWebUiUser user;
            try
            {
                using var json = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
                var root = json.RootElement;
                string? Str(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                user = new OpenWebUiUser(Str("id") ?? "", Str("role"), Str("name"), Str("email"));
            }
            catch (JsonException)
            {
                throw new TerminalIdentityException(502, "open-webui-bad-response", "Open WebUI's /api/v1/auths/ answer was not JSON.");
            }
            if (user.Id.Length == 0) throw new TerminalIdentityException(401, "invalid-token", "Invalid token: Open WebUI returned no user id.");
            if (_cache.Count >= MaxCached) _cache.Clear();
            var ttl = TimeSpan.FromSeconds(options.Value.TokenCacheSeconds);
            if (ttl > TimeSpan.Zero) _cache[key] = (user, now + ttl);
            return user;
        }
    }
}
