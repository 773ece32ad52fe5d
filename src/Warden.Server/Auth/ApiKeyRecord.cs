namespace Warden.Server.Auth;

/// <summary>A stored key: never the key itself, only the SHA-256 of it.</summary>
public sealed record ApiKeyRecord(string Id, string Name, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt)
{
    public bool Active => RevokedAt is null;
}

/// <summary>A freshly created key: the secret is in <see cref="Key"/> and is shown this once.</summary>
public sealed record CreatedApiKey(ApiKeyRecord Record, string Key);
