using System.Net;

namespace Warden.Server.Hosting;

/// <summary>Refuses to expose code execution beyond this machine without an API key, unless told to explicitly.</summary>
public static class BindGuard
{
    public static void Check(string urls, string? apiKey, bool allowUnauthenticatedRemote)
    {
        if (!string.IsNullOrEmpty(apiKey) || allowUnauthenticatedRemote) return;
        foreach (var url in urls.Split(';', ',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!IsLoopback(url))
                throw new InvalidOperationException(
                    $"Refusing to listen on {url} without an API key: anyone who can reach it could run code. " +
                    "Set WARDEN_API_KEY (or create a key with `warden keys create`), or WARDEN_ALLOW_UNAUTHENTICATED_REMOTE=true if something in front of Warden authenticates.");
        }
    }

    public static bool AllLoopback(string urls) =>
        urls.Split(';', ',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).All(IsLoopback);

    public static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0").Replace("://+", "://0.0.0.0"), UriKind.Absolute, out var uri)) return false;
        if (uri.IsLoopback) return true;
        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);
    }
}
