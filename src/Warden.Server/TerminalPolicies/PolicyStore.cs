using System.Data.Common;
using System.Globalization;
using Warden.Server.Data;

namespace Warden.Server.TerminalPolicies;

/// <summary>A policy row: its id, its data (JSON text, as written after validation) and unix-millisecond timestamps.</summary>
internal sealed record PolicyRow(string Id, string Data, long CreatedAt, long UpdatedAt)
{
    /// <summary>Python's <c>str(datetime)</c> of an aware UTC time, which is what the orchestrator answers.</summary>
    public static string PythonTime(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00:00";
}

/// <summary>
/// Policies in the server's database (<c>terminal_policies</c>): SQLite on a server of its own, PostgreSQL shared by
/// replicas, so every replica serves the same policies. Plain ADO.NET, as the rest of <see cref="WardenDatabase"/>'s users.
/// </summary>
internal sealed class PolicyStore(WardenDatabase database, TimeProvider time)
{
    public async Task<IReadOnlyList<PolicyRow>> ListAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, "SELECT id, data, created_at, updated_at FROM terminal_policies ORDER BY created_at, id");
        return await ReadAsync(command, cancellationToken).ConfigureAwait(false);
    }

    public async Task<PolicyRow?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, "SELECT id, data, created_at, updated_at FROM terminal_policies WHERE id = @id").With("@id", id);
        return (await ReadAsync(command, cancellationToken).ConfigureAwait(false)) is [var row] ? row : null;
    }

    /// <summary>Creates the policy; null when one with this id exists already.</summary>
    public async Task<PolicyRow?> InsertAsync(string id, string data, CancellationToken cancellationToken)
    {
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, """
            INSERT INTO terminal_policies (id, data, created_at, updated_at) VALUES (@id, @data, @now, @now) ON CONFLICT (id) DO NOTHING
            """).With("@id", id).With("@data", data).With("@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1 ? new PolicyRow(id, data, now, now) : null;
    }

    /// <summary>Creates or replaces the policy's data (one statement, so two writers never both "create" it).</summary>
    public async Task<PolicyRow> UpsertAsync(string id, string data, CancellationToken cancellationToken)
    {
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (var command = Command(connection, """
            INSERT INTO terminal_policies (id, data, created_at, updated_at) VALUES (@id, @data, @now, @now)
            ON CONFLICT (id) DO UPDATE SET data = @data, updated_at = @now
            """).With("@id", id).With("@data", data).With("@now", now))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using var read = Command(connection, "SELECT id, data, created_at, updated_at FROM terminal_policies WHERE id = @id").With("@id", id);
        return (await ReadAsync(read, cancellationToken).ConfigureAwait(false))[0];
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, "DELETE FROM terminal_policies WHERE id = @id").With("@id", id);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private static DbCommand Command(DbConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    private static async Task<IReadOnlyList<PolicyRow>> ReadAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var rows = new List<PolicyRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            rows.Add(new PolicyRow(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
        return rows;
    }
}
