namespace Warden.Server.Auth;

/// <summary>What a key may do. <c>admin</c> includes <c>execute</c>.</summary>
public static class ApiKeyScopes
{
    public const string Execute = "execute";
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [Execute, Admin];

    public static bool Grants(IReadOnlyCollection<string> held, string required) =>
        held.Contains(Admin) || held.Contains(required);
}

/// <summary>Endpoint metadata: the scope a caller's key needs (default <see cref="ApiKeyScopes.Execute"/>).</summary>
public sealed record RequiredScope(string Scope)
{
    public static readonly RequiredScope Admin = new(ApiKeyScopes.Admin);
}
