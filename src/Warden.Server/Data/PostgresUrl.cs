namespace Warden.Server.Data;

/// <summary>Turns <c>postgres://user:password@host:port/database?sslmode=…</c> into an Npgsql connection string.</summary>
internal static class PostgresUrl
{
    public static string ToConnectionString(string value)
    {
        if (!value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) && !value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            return value;
        var uri = new Uri(value);
        var parts = new List<string>();
        // An empty host means a unix socket directory given as ?host=/run/postgresql.
        if (uri.Host.Length > 0) parts.Add("Host=" + uri.Host);
        if (uri.Port > 0) parts.Add("Port=" + uri.Port);
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length > 0) parts.Add("Database=" + database);
        if (uri.UserInfo.Length > 0)
        {
            var user = uri.UserInfo.Split(':', 2);
            parts.Add("Username=" + Uri.UnescapeDataString(user[0]));
            if (user.Length > 1) parts.Add("Password=" + Uri.UnescapeDataString(user[1]));
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            var key = Uri.UnescapeDataString(kv[0]);
            var val = kv.Length > 1 ? Uri.UnescapeDataString(kv[1]) : "";
            parts.Add((key.Equals("sslmode", StringComparison.OrdinalIgnoreCase) ? "SSL Mode" : key) + "=" + val);
        }
        return string.Join(';', parts);
    }
}
