namespace Warden.Server.Data;

/// <summary>
/// Tables, created if missing. Times are unix milliseconds (one integer type on both providers); execution ids are
/// UUIDv7 hex, so ordering by id is ordering by start time (the history's keyset paging relies on it).
/// </summary>
internal static class DatabaseSchema
{
    public static string For(DatabaseKind kind)
    {
        var (bigint, real) = kind == DatabaseKind.Postgres ? ("BIGINT", "DOUBLE PRECISION") : ("INTEGER", "REAL");
        return $"""
            CREATE TABLE IF NOT EXISTS api_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                hash TEXT NOT NULL,
                scopes TEXT NOT NULL,
                created_at {bigint} NOT NULL,
                revoked_at {bigint} NULL
            );
            CREATE TABLE IF NOT EXISTS executions (
                id TEXT PRIMARY KEY,
                started_at {bigint} NOT NULL,
                finished_at {bigint} NOT NULL,
                key_id TEXT NULL,
                user_id TEXT NULL,
                client_ip TEXT NULL,
                transport TEXT NOT NULL,
                language TEXT NOT NULL,
                backend TEXT NOT NULL,
                status TEXT NOT NULL,
                http_status INTEGER NOT NULL,
                exit_code INTEGER NULL,
                signal INTEGER NULL,
                code_sha256 TEXT NOT NULL,
                code_bytes {bigint} NOT NULL,
                stdin_bytes {bigint} NOT NULL,
                timeout_s {real} NULL,
                cpu_time_s {real} NULL,
                memory_mb INTEGER NULL,
                max_processes INTEGER NULL,
                max_output_bytes {bigint} NULL,
                network INTEGER NOT NULL,
                queued_ms {bigint} NOT NULL,
                compile_ms {bigint} NULL,
                run_ms {bigint} NOT NULL,
                total_ms {bigint} NOT NULL,
                cpu_ms {bigint} NOT NULL,
                memory_used_mb {real} NOT NULL,
                stdout_bytes {bigint} NOT NULL,
                stderr_bytes {bigint} NOT NULL,
                error TEXT NULL
            );
            CREATE INDEX IF NOT EXISTS executions_started ON executions (started_at);
            CREATE INDEX IF NOT EXISTS executions_key ON executions (key_id, id);
            CREATE INDEX IF NOT EXISTS executions_user ON executions (user_id, id);
            CREATE TABLE IF NOT EXISTS terminal_policies (
                id TEXT PRIMARY KEY,
                data TEXT NOT NULL,
                created_at {bigint} NOT NULL,
                updated_at {bigint} NOT NULL
            );
            """;
    }
}
