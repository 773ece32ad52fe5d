using System.Collections.Concurrent;
using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using Warden.Server.Data;

namespace Warden.Server.Auth;

/// <summary>
/// API keys in the database. A key is <c>wdn_{id}_{secret}</c> with 32 random bytes of secret; only the SHA-256 of
/// the whole key is stored, and a presented key is checked by comparing digests in constant time. Lookups are cached
/// for a few seconds so a busy server does not query per request; a revocation through this store takes effect at once,
/// one through another process (the CLI) within <see cref="CacheLifetime"/>.
/// </summary>
public sealed class ApiKeyStore(WardenDatabase database, TimeProvider time)
{
    public const string Prefix = "wdn_";
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (StoredKey? Key, long Expires)> _cache = new(StringComparer.Ordinal);
    private (bool Any, long Expires) _keysExist = (false, 0);

    public async Task<CreatedApiKey> CreateAsync(string name, IReadOnlyCollection<string> scopes, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 200) throw new ArgumentException("name: 1 to 200 characters.", nameof(name));
        var unknown = scopes.Where(s => !ApiKeyScopes.All.Contains(s)).ToList();
        if (scopes.Count == 0 || unknown.Count > 0)
            throw new ArgumentException($"scopes: one or more of {string.Join(", ", ApiKeyScopes.All)}" + (unknown.Count > 0 ? $" (unknown: {string.Join(", ", unknown)})" : "") + ".", nameof(scopes));
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var key = Prefix + id + "_" + Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = time.GetUtcNow();
        var ordered = ApiKeyScopes.All.Where(scopes.Contains).ToList();
        await using (var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false))
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "INSERT INTO api_keys (id, name, hash, scopes, created_at, revoked_at) VALUES (@id, @name, @hash, @scopes, @created, NULL)";
            command.With("@id", id).With("@name", name.Trim()).With("@hash", Convert.ToHexStringLower(Hash(key)))
                .With("@scopes", string.Join(',', ordered)).With("@created", now.ToUnixTimeMilliseconds());
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        _cache.TryRemove(id, out _);
        _keysExist = (true, 0);
        return new CreatedApiKey(new ApiKeyRecord(id, name.Trim(), ordered, now, null), key);
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, name, hash, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at, id";
        var keys = new List<ApiKeyRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) keys.Add(Read(reader).Record);
        return keys;
    }

    /// <summary>Revokes a key; false when there is no such active key.</summary>
    public async Task<bool> RevokeAsync(string id, CancellationToken cancellationToken)
    {
        int changed;
        await using (var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false))
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL";
            command.With("@now", time.GetUtcNow().ToUnixTimeMilliseconds()).With("@id", id);
            changed = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        _cache.TryRemove(id, out _);
        return changed > 0;
    }

    /// <summary>
    /// True once any key was ever created, revoked or not: then the server requires keys even without a bootstrap key.
    /// Revoking the last key must not open the server to anonymous callers.
    /// </summary>
    public async ValueTask<bool> KeysExistAsync(CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        var cached = _keysExist;
        if (cached.Any || cached.Expires > now) return cached.Any;
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM api_keys";
        bool any = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) > 0;
        _keysExist = (any, now + (long)(CacheLifetime.TotalSeconds * time.TimestampFrequency));
        return any;
    }

    /// <summary>The active key <paramref name="presented"/> is, or null. Constant-time over the digests.</summary>
    public async ValueTask<ApiKeyRecord?> AuthenticateAsync(string presented, CancellationToken cancellationToken)
    {
        if (!TryParseId(presented, out var id)) return null;
        var stored = await FindAsync(id, cancellationToken).ConfigureAwait(false);
        if (stored is null || !stored.Record.Active) return null;
        return CryptographicOperations.FixedTimeEquals(Hash(presented), stored.Hash) ? stored.Record : null;
    }

    private async ValueTask<StoredKey?> FindAsync(string id, CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        if (_cache.TryGetValue(id, out var hit) && hit.Expires > now) return hit.Key;
        StoredKey? found = null;
        await using (var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false))
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT id, name, hash, scopes, created_at, revoked_at FROM api_keys WHERE id = @id";
            command.With("@id", id);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) found = Read(reader);
        }
        if (_cache.Count > 10_000) _cache.Clear();
        _cache[id] = (found, now + (long)(CacheLifetime.TotalSeconds * time.TimestampFrequency));
        return found;
    }

    private static bool TryParseId(string presented, out string id)
    {
        id = "";
        if (!presented.StartsWith(Prefix, StringComparison.Ordinal) || presented.Length > 200) return false;
        var end = presented.IndexOf('_', Prefix.Length);
        if (end <= Prefix.Length) return false;
        id = presented[Prefix.Length..end];
        return id.Length == 12 && id.All(char.IsAsciiHexDigitLower);
    }

    private static StoredKey Read(DbDataReader reader)
    {
        var created = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4));
        DateTimeOffset? revoked = reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5));
        var scopes = reader.GetString(3).Split(',', StringSplitOptions.RemoveEmptyEntries);
        return new StoredKey(new ApiKeyRecord(reader.GetString(0), reader.GetString(1), scopes, created, revoked), Convert.FromHexString(reader.GetString(2)));
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private sealed record StoredKey(ApiKeyRecord Record, byte[] Hash);
}
