namespace Warden.Server.Hosting;

/// <summary>
/// Endpoint metadata: this endpoint authenticates its callers itself (the Jupyter API accepts tokens and login cookies),
/// so <see cref="ApiKeyMiddleware"/> lets its requests through to it.
/// </summary>
public sealed class OwnAuthentication
{
    public static readonly OwnAuthentication Instance = new();
}
