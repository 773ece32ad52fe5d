using System.Diagnostics;

namespace Warden.Server.Tests.Data;

/// <summary>
/// A private PostgreSQL 15 cluster for one test class: initdb into a temp directory (as the postgres user: initdb
/// refuses root), listening only on a unix socket in that directory, stopped and deleted afterwards. Skips when
/// PostgreSQL is not installed (scripts/test.d/postgres.sh installs it), except under CI where that is a failure.
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    private const string Bin = "/usr/lib/postgresql/15/bin";
    private string _dir = "";

    public string ConnectionString { get; private set; } = "";

    public string? Unavailable { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(Path.Combine(Bin, "initdb")) || !File.Exists("/usr/sbin/runuser"))
        {
            Unavailable = "PostgreSQL 15 is not installed (apt-get install postgresql-15)";
            return;
        }
        _dir = Path.Combine("/tmp", "warden-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
        await RunAsync("chown", "postgres:postgres", _dir);
        await AsPostgresAsync(Path.Combine(Bin, "initdb"), "-D", Path.Combine(_dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync");
        await AsPostgresAsync(Path.Combine(Bin, "pg_ctl"), "-D", Path.Combine(_dir, "data"), "-l", Path.Combine(_dir, "log"), "-w", "-t", "60",
            "-o", $"-c listen_addresses='' -c unix_socket_directories={_dir} -c fsync=off -c max_connections=200", "start");
        await AsPostgresAsync(Path.Combine(Bin, "createdb"), "-h", _dir, "-U", "postgres", "warden");
        ConnectionString = $"Host={_dir};Username=postgres;Database=warden;Pooling=true;Maximum Pool Size=50";
    }

    public void Require()
    {
        if (Unavailable is null) return;
        if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail(Unavailable);
        Assert.Skip(Unavailable);
    }

    /// <summary>Stops the server (readiness should then fail).</summary>
    public Task StopAsync() => AsPostgresAsync(Path.Combine(Bin, "pg_ctl"), "-D", Path.Combine(_dir, "data"), "-m", "immediate", "-w", "stop");

    public Task StartAsync() => AsPostgresAsync(Path.Combine(Bin, "pg_ctl"), "-D", Path.Combine(_dir, "data"), "-l", Path.Combine(_dir, "log"), "-w",
        "-o", $"-c listen_addresses='' -c unix_socket_directories={_dir} -c fsync=off -c max_connections=200", "start");

    public async ValueTask DisposeAsync()
    {
        if (_dir.Length == 0) return;
        try { await AsPostgresAsync(Path.Combine(Bin, "pg_ctl"), "-D", Path.Combine(_dir, "data"), "-m", "immediate", "-w", "stop"); }
        catch (InvalidOperationException) { }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static Task AsPostgresAsync(string program, params string[] args) => RunAsync("/usr/sbin/runuser", ["-u", "postgres", "--", program, .. args]);

    private static async Task RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {await output}{await error}");
    }
}
