using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using Warden.Core.Configuration;
using Warden.Core.State;

namespace Warden.Server.Data;

public enum DatabaseKind
{
    Sqlite,
    Postgres,
}

/// <summary>
/// The one database of a Warden server: API keys and execution history. SQLite (embedded, a file under the state
/// directory) unless a PostgreSQL connection string is configured. Plain ADO.NET with <c>@name</c> parameters, which both
/// providers accept; the schema is created on first open.
/// </summary>
public sealed class WardenDatabase : IAsyncDisposable
{
    private readonly DbDataSource _source;
    private readonly SemaphoreSlim _schemaLock = new(1, 1);
    private volatile bool _schemaReady;

    private WardenDatabase(DatabaseKind kind, DbDataSource source, string description)
    {
        Kind = kind;
        _source = source;
        Description = description;
    }

    public DatabaseKind Kind { get; }

    /// <summary>For logs and health: the provider and where, never the password.</summary>
    public string Description { get; }

    public static WardenDatabase Open(string? connectionString, string stateDirectory)
    {
        var value = connectionString?.Trim();
        if (string.IsNullOrEmpty(value)) return Sqlite(Path.Combine(StateDirectory.Prepare(stateDirectory), "warden.db"));
        if (value.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase)) return Sqlite(value["sqlite:".Length..]);
        if (value.StartsWith("Data Source=", StringComparison.OrdinalIgnoreCase))
            return Sqlite(new SqliteConnectionStringBuilder(value).DataSource);
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(PostgresUrl.ToConnectionString(value));
            var source = NpgsqlDataSource.Create(builder.ConnectionString);
            return new WardenDatabase(DatabaseKind.Postgres, source, $"postgresql {builder.Host}:{builder.Port}/{builder.Database}");
        }
        catch (ArgumentException e)
        {
            throw new InvalidConfigurationException("Warden:Database:ConnectionString (WARDEN_DATABASE_URL)", e.Message);
        }
    }

    private static WardenDatabase Sqlite(string path)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory);
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        // Key hashes, users and client addresses: owner-only whatever the umask. SQLite gives the -wal and -shm files it
        // creates the database file's own mode, so creating that 0600 first covers them; files an older version left
        // readable are made 0600 too.
        try
        {
            PrivateFile.Create(full);
            foreach (var suffix in new[] { "-wal", "-shm", "-journal" }) PrivateFile.RestrictIfPresent(full + suffix);
        }
        catch (IOException e)
        {
            throw new InvalidConfigurationException("Warden:Database:ConnectionString (WARDEN_DATABASE_URL)", $"the SQLite database {full}: {e.Message}");
        }
        var builder = new SqliteConnectionStringBuilder { DataSource = full, Pooling = true, DefaultTimeout = 30 };
        return new WardenDatabase(DatabaseKind.Sqlite, SqliteFactory.Instance.CreateDataSource(builder.ConnectionString), "sqlite " + full);
    }

    /// <summary>An open connection with the schema in place.</summary>
    public async Task<DbConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Kind == DatabaseKind.Sqlite)
            {
                // WAL lets the API read history while the background writer appends.
                await ExecuteAsync(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;", cancellationToken).ConfigureAwait(false);
            }
            if (!_schemaReady) await EnsureSchemaAsync(connection, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>True when a connection opens and answers (readiness).</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is DbException or IOException or TimeoutException or InvalidOperationException)
        {
            return false;
        }
    }

    private async Task EnsureSchemaAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        await _schemaLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_schemaReady) return;
            if (Kind == DatabaseKind.Postgres)
            {
                // Replicas starting together would race in CREATE TABLE IF NOT EXISTS (PostgreSQL then fails one of them on
                // a duplicate catalog row): one at a time, under a transaction-scoped advisory lock.
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, $"SELECT pg_advisory_xact_lock({SchemaLockKey}); " + DatabaseSchema.For(Kind), cancellationToken, transaction)
                    .ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            else await ExecuteAsync(connection, DatabaseSchema.For(Kind), cancellationToken).ConfigureAwait(false);
            _schemaReady = true;
        }
        finally
        {
            _schemaLock.Release();
        }
    }

    /// <summary>Advisory lock key under which schema changes run (an arbitrary constant: "warden" in ASCII).</summary>
    internal const long SchemaLockKey = 0x77617264656E;

    private static async Task ExecuteAsync(DbConnection connection, string sql, CancellationToken cancellationToken, DbTransaction? transaction = null)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        if (Kind == DatabaseKind.Sqlite) SqliteConnection.ClearAllPools();
        return _source.DisposeAsync();
    }
}

/// <summary>Adds a named parameter (<c>@name</c>) to a command, whatever the provider.</summary>
internal static class DbCommandExtensions
{
    public static DbCommand With(this DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
        return command;
    }
}
