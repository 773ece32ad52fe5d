namespace Warden.Server.Data;

/// <summary>Configuration section <c>Warden:Database</c>: where API keys and execution history live.</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Warden:Database";

    /// <summary>
    /// Empty: SQLite at <c>{StateDirectory}/warden.db</c>. A PostgreSQL URL (<c>postgres://user:pass@host:5432/db</c>)
    /// or Npgsql connection string (<c>Host=…;Database=…</c>), or SQLite (<c>sqlite:/path/file.db</c>, <c>Data Source=…</c>).
    /// </summary>
    public string? ConnectionString { get; set; }
}
