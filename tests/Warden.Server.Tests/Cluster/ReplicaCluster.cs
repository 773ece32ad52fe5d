using System.Net.Http.Headers;
using Warden.Server.Tests.Data;
using Warden.Server.Tests.Lifecycle;

namespace Warden.Server.Tests.Cluster;

/// <summary>
/// Real replicas: a private PostgreSQL 15, N `warden serve` processes on loopback sharing it (cluster mode, ids r1…rN,
/// fast heartbeats so death is noticed within seconds, disjoint sandbox uid ranges because they share this host), and
/// nginx round-robin in front. Replicas can be killed, stopped and restarted under the same id.
/// </summary>
internal sealed class ReplicaCluster : IAsyncDisposable
{
    public const string ApiKey = "cluster-test-key";
    public const double HeartbeatSeconds = 1, DeadAfterSeconds = 4;
    private readonly PostgresCluster _postgres;
    private readonly Dictionary<string, string> _environment;
    private readonly List<string> _stateDirectories = [];

    private ReplicaCluster(PostgresCluster postgres, Dictionary<string, string> environment)
    {
        _postgres = postgres;
        _environment = environment;
    }

    public Dictionary<string, ServeProcess> Replicas { get; } = new(StringComparer.Ordinal);

    public NginxBalancer Balancer { get; private set; } = null!;

    /// <summary>A client of the balancer, with the API key.</summary>
    public HttpClient Client { get; private set; } = null!;

    public string DatabaseUrl => _postgres.ConnectionString;

    public static async Task<ReplicaCluster> StartAsync(PostgresCluster postgres, int replicas, Dictionary<string, string>? environment = null)
    {
        postgres.Require();
        NginxBalancer.Require();
        var cluster = new ReplicaCluster(postgres, environment ?? []);
        try
        {
            await Task.WhenAll(Enumerable.Range(1, replicas).Select(i => cluster.StartReplicaAsync("r" + i)));
            cluster.Balancer = await NginxBalancer.StartAsync(cluster.Replicas.Values.OrderBy(r => r.Address.Port).Select(r => r.Address).ToList());
            cluster.Client = Authorized(new HttpClient { BaseAddress = cluster.Balancer.Address, Timeout = TimeSpan.FromSeconds(90) });
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts replica <paramref name="id"/> (again, after a kill: a new process and port, the same id and state directory).</summary>
    public async Task<ServeProcess> StartReplicaAsync(string id)
    {
        int index = int.Parse(id[1..], System.Globalization.CultureInfo.InvariantCulture);
        var state = Path.Combine(Path.GetTempPath(), $"warden-replica-{id}-{Environment.ProcessId}-{GetHashCode():x}");
        if (!_stateDirectories.Contains(state))
        {
            var dir = Directory.CreateDirectory(state);
            // Sandbox uids must be able to reach their workspaces under it: 0755, not the temp default 0700.
            dir.UnixFileMode = (UnixFileMode)0x1ED;
            _stateDirectories.Add(state);
        }
        var environment = new Dictionary<string, string>
        {
            ["WARDEN_DATABASE_URL"] = _postgres.ConnectionString,
            ["WARDEN_CLUSTER_REPLICA_ID"] = id,
            ["WARDEN_CLUSTER_HEARTBEAT"] = HeartbeatSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WARDEN_CLUSTER_DEAD_AFTER"] = DeadAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WARDEN_API_KEY"] = ApiKey,
            // Replicas on one host must not hand the same host uid to two sandboxes at once: disjoint ranges.
            ["WARDEN_SANDBOX_UID_BASE"] = (300000 + index * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WARDEN_SANDBOX_UID_COUNT"] = "1000",
            ["WARDEN_USER_UID_BASE"] = (500000 + index * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["WARDEN_TERMINAL__USERUIDCOUNT"] = "1000",
        };
        foreach (var (k, v) in _environment) environment[k] = v;
        var replica = await ServeProcess.StartAsync(state, environment);
        Authorized(replica.Client);
        lock (Replicas) Replicas[id] = replica;
        return replica;
    }

    /// <summary>SIGKILL: no shutdown at all, as a crash or an OOM kill.</summary>
    public async Task KillAsync(string id)
    {
        var replica = Replicas[id];
        replica.Signal(9);
        await replica.WaitForExitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>SIGTERM: a graceful shutdown (a rolling update).</summary>
    public async Task StopAsync(string id)
    {
        var replica = Replicas[id];
        replica.Signal(15);
        await replica.WaitForExitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>A client of one replica directly (bypassing the balancer).</summary>
    public HttpClient Direct(string id) => Replicas[id].Client;

    public static HttpClient Authorized(HttpClient client)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        return client;
    }

    public string Logs() => string.Join("\n", Replicas.Select(r => $"--- {r.Key}:\n{r.Value.Output}")) + "\n--- nginx:\n" + Balancer?.ErrorLog();

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (Balancer is not null) await Balancer.DisposeAsync();
        await Task.WhenAll(Replicas.Values.Select(r => r.DisposeAsync().AsTask()));
        foreach (var state in _stateDirectories)
        {
            // A replica killed with SIGKILL and never restarted leaves its workspace mounts (its next start would reap
            // them): remove them, or every later sandbox on this host pays for a longer mount table.
            Unmount(state);
            try { Directory.Delete(state, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static void Unmount(string directory)
    {
        var mounts = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
            .Where(m => m.StartsWith(directory + "/", StringComparison.Ordinal)).OrderByDescending(m => m.Length);
        foreach (var mount in mounts)
        {
            using var umount = System.Diagnostics.Process.Start("umount", ["-l", mount]);
            umount.WaitForExit();
        }
    }
}
