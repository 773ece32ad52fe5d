using System.Data.Common;
using System.Text;
using Warden.Server.Data;

namespace Warden.Server.History;

/// <summary>Execution history rows: batched inserts (one transaction per batch), keyset-paged queries, retention.</summary>
public sealed class HistoryStore(WardenDatabase database)
{
    private static readonly string[] Columns =
    [
        "id", "started_at", "finished_at", "key_id", "user_id", "client_ip", "transport", "language", "backend", "status", "http_status",
        "exit_code", "signal", "code_sha256", "code_bytes", "stdin_bytes", "timeout_s", "cpu_time_s", "memory_mb", "max_processes",
        "max_output_bytes", "network", "queued_ms", "compile_ms", "run_ms", "total_ms", "cpu_ms", "memory_used_mb", "stdout_bytes",
        "stderr_bytes", "error",
    ];

    private static readonly string InsertSql =
        $"INSERT INTO executions ({string.Join(", ", Columns)}) VALUES ({string.Join(", ", Columns.Select(c => "@" + c))})";

    private static readonly string SelectColumns = string.Join(", ", Columns);

    public async Task InsertAsync(IReadOnlyList<ExecutionRecord> records, CancellationToken cancellationToken)
    {
        if (records.Count == 0) return;
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var r in records)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            // A retried batch may contain rows that made it the first time: insert each row once.
            command.CommandText = database.Kind == DatabaseKind.Postgres ? InsertSql + " ON CONFLICT (id) DO NOTHING" : InsertSql.Replace("INSERT", "INSERT OR IGNORE", StringComparison.Ordinal);
            command.With("@id", r.Id).With("@started_at", r.StartedAt.ToUnixTimeMilliseconds()).With("@finished_at", r.FinishedAt.ToUnixTimeMilliseconds())
                .With("@key_id", r.KeyId).With("@user_id", r.UserId).With("@client_ip", r.ClientIp).With("@transport", r.Transport)
                .With("@language", r.Language).With("@backend", r.Backend).With("@status", r.Status).With("@http_status", r.HttpStatus)
                .With("@exit_code", r.ExitCode).With("@signal", r.Signal).With("@code_sha256", r.CodeSha256).With("@code_bytes", r.CodeBytes)
                .With("@stdin_bytes", r.StdinBytes).With("@timeout_s", r.TimeoutSeconds).With("@cpu_time_s", r.CpuTimeSeconds)
                .With("@memory_mb", r.MemoryMb).With("@max_processes", r.MaxProcesses).With("@max_output_bytes", r.MaxOutputBytes)
                .With("@network", r.Network ? 1 : 0).With("@queued_ms", r.QueuedMs).With("@compile_ms", r.CompileMs).With("@run_ms", r.RunMs)
                .With("@total_ms", r.TotalMs).With("@cpu_ms", r.CpuMs).With("@memory_used_mb", r.MemoryUsedMb)
                .With("@stdout_bytes", r.StdoutBytes).With("@stderr_bytes", r.StderrBytes).With("@error", r.Error);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<HistoryPage> QueryAsync(HistoryQuery query, CancellationToken cancellationToken)
    {
        var limit = Math.Clamp(query.Limit, 1, 500);
        var sql = new StringBuilder($"SELECT {SelectColumns} FROM executions WHERE 1=1");
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        void Filter(string clause, string name, object? value)
        {
            if (value is null) return;
            sql.Append(" AND ").Append(clause);
            command.With(name, value);
        }
        Filter("status = @status", "@status", query.Status);
        Filter("language = @language", "@language", query.Language);
        Filter("user_id = @user", "@user", query.UserId);
        Filter("key_id = @key", "@key", query.KeyId);
        if (query.OwnerOnly)
        {
            if (query.OwnerUserId is null) sql.Append(" AND user_id IS NULL");
            else Filter("user_id = @owner", "@owner", query.OwnerUserId);
        }
        Filter("started_at >= @since", "@since", query.Since?.ToUnixTimeMilliseconds());
        Filter("id < @before", "@before", query.Before);
        sql.Append(" ORDER BY id DESC LIMIT @limit");
        command.With("@limit", limit + 1);
        command.CommandText = sql.ToString();
        var items = new List<ExecutionRecord>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) items.Add(Read(reader));
        }
        string? next = null;
        if (items.Count > limit)
        {
            items.RemoveAt(items.Count - 1);
            next = items[^1].Id;
        }
        return new HistoryPage(items, next);
    }

    public async Task<ExecutionRecord?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {SelectColumns} FROM executions WHERE id = @id";
        command.With("@id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader) : null;
    }

    public async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM executions";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Deletes rows started before <paramref name="olderThan"/>, then all but the newest <paramref name="maxRows"/>.</summary>
    /// <remarks>
    /// On PostgreSQL several replicas share the table and each runs retention: only one at a time does the work (the
    /// others find the advisory lock taken and skip), so their deletes never contend for the same rows.
    /// </remarks>
    public async Task<int> ApplyRetentionAsync(DateTimeOffset olderThan, long maxRows, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        if (database.Kind == DatabaseKind.Postgres)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = $"SELECT pg_try_advisory_xact_lock({RetentionLockKey})";
            if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true) return 0;
        }
        int deleted = 0;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM executions WHERE started_at < @cutoff";
            command.With("@cutoff", olderThan.ToUnixTimeMilliseconds());
            deleted += await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM executions WHERE id <= (SELECT id FROM executions ORDER BY id DESC LIMIT 1 OFFSET @keep)";
            command.With("@keep", maxRows);
            deleted += await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    /// <summary>Advisory lock key of history retention ("retent" in ASCII).</summary>
    private const long RetentionLockKey = 0x726574656E74;

    private static ExecutionRecord Read(DbDataReader r)
    {
        int? Int(int i) => r.IsDBNull(i) ? null : Convert.ToInt32(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
        long? Long(int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
        double? Double(int i) => r.IsDBNull(i) ? null : r.GetDouble(i);
        string? Text(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        return new ExecutionRecord
        {
            Id = r.GetString(0),
            StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)),
            FinishedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)),
            KeyId = Text(3), UserId = Text(4), ClientIp = Text(5), Transport = r.GetString(6), Language = r.GetString(7), Backend = r.GetString(8),
            Status = r.GetString(9), HttpStatus = Int(10) ?? 0, ExitCode = Int(11), Signal = Int(12), CodeSha256 = r.GetString(13),
            CodeBytes = r.GetInt64(14), StdinBytes = r.GetInt64(15), TimeoutSeconds = Double(16), CpuTimeSeconds = Double(17), MemoryMb = Int(18),
            MaxProcesses = Int(19), MaxOutputBytes = Long(20), Network = (Int(21) ?? 0) != 0, QueuedMs = r.GetInt64(22), CompileMs = Long(23),
            RunMs = r.GetInt64(24), TotalMs = r.GetInt64(25), CpuMs = r.GetInt64(26), MemoryUsedMb = r.GetDouble(27),
            StdoutBytes = r.GetInt64(28), StderrBytes = r.GetInt64(29), Error = Text(30),
        };
    }
}
