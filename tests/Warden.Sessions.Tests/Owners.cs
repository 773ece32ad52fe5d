using Warden.Core.Ownership;

namespace Warden.Sessions.Tests;

/// <summary>Principals for tests: users of the server's own tenant, and of stored keys.</summary>
internal static class Owners
{
    public static Principal User(string name) => new(Principal.ServerTenant, name);

    public static Principal OfKey(string keyId, string name) => new(Principal.KeyTenant(keyId), name);

    public static Requester Admin { get; } = new(User("admin"), SeesEverything: true);
}
