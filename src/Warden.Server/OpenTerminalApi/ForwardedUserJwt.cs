using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// Verifies Open WebUI's forwarded user JWT (<c>X-OpenWebUI-User-Jwt</c>, HS256 under FORWARD_USER_INFO_HEADER_JWT_SECRET;
/// claims sub, email, name, role, iss "open-webui", iat, exp). Only HS256 is accepted: a token naming another algorithm
/// ("none", RS256 with the secret as a public key) is refused before its signature is looked at.
/// </summary>
internal sealed class ForwardedUserJwt(string secret, TimeProvider time)
{
    /// <summary>Clock skew tolerated between Open WebUI and Warden.</summary>
    private static readonly TimeSpan Leeway = TimeSpan.FromSeconds(30);
    private readonly byte[] _key = Encoding.UTF8.GetBytes(secret);

    public OpenWebUiUser Verify(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3) throw Invalid("it is not a JWT");
        using var header = Parse(parts[0]);
        if (!header.RootElement.TryGetProperty("alg", out var alg) || alg.GetString() != "HS256") throw Invalid("its algorithm is not HS256");
        var expected = HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
        if (!CryptographicOperations.FixedTimeEquals(expected, Decode(parts[2]))) throw Invalid("its signature does not match");
        using var payload = Parse(parts[1]);
        var claims = payload.RootElement;
        var now = time.GetUtcNow();
        if (!claims.TryGetProperty("exp", out var exp) || exp.ValueKind != JsonValueKind.Number
            || DateTimeOffset.FromUnixTimeSeconds((long)exp.GetDouble()) + Leeway < now) throw Invalid("it has expired (or has no exp)");
        if (claims.TryGetProperty("iss", out var iss) && iss.GetString() != "open-webui") throw Invalid("its issuer is not open-webui");
        var sub = Claim(claims, "sub");
        if (string.IsNullOrEmpty(sub)) throw Invalid("it has no subject");
        return new OpenWebUiUser(sub, Claim(claims, "role"), Claim(claims, "name"), Claim(claims, "email"));
    }

    private static string? Claim(JsonElement claims, string name) =>
        claims.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static JsonDocument Parse(string segment)
    {
        try { return JsonDocument.Parse(Decode(segment)); }
        catch (JsonException) { throw Invalid("a part is not JSON"); }
    }

    private static byte[] Decode(string segment)
    {
        var s = segment.Replace('-', '+').Replace('_', '/');
        s = s.PadRight(s.Length + (4 - s.Length % 4) % 4, '=');
        try { return Convert.FromBase64String(s); }
        catch (FormatException) { throw Invalid("a part is not base64url"); }
    }

    private static TerminalIdentityException Invalid(string why) => new(401, "invalid-user-jwt", $"The forwarded user JWT is invalid: {why}.");
}
