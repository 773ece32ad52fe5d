using Warden.Server.Tests.Data;

namespace Warden.Server.Tests.Cluster;

/// <summary>
/// Three replicas on a private PostgreSQL behind nginx, shared by the tests of one class. When PostgreSQL or nginx is
/// missing, each test skips (and fails under CI) through <see cref="Require"/>.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly PostgresCluster _postgres = new();
    private ReplicaCluster? _cluster;
    private string? _unavailable;

    /// <summary>Settings every replica of this fixture gets (shared limits the tests check).</summary>
    public static readonly Dictionary<string, string> Settings = new()
    {
        ["WARDEN_RATE_LIMIT_PER_MINUTE"] = "20",
        ["WARDEN_RATE_LIMIT_BURST"] = "20",
        ["WARDEN_MAX_CONCURRENT_PER_USER"] = "2",
        ["WARDEN_MAX_SESSIONS_PER_USER"] = "5",
        ["WARDEN_JUPYTER_PASSWORD"] = "cluster-test-password",
    };

    internal ReplicaCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster did not start: " + _unavailable);

    public async ValueTask InitializeAsync()
    {
        await _postgres.InitializeAsync();
        if (_postgres.Unavailable is not null) _unavailable = _postgres.Unavailable;
        else if (!File.Exists(NginxBalancer.Binary)) _unavailable = "nginx is not installed (scripts/test.d/nginx.sh installs it)";
        else _cluster = await ReplicaCluster.StartAsync(_postgres, 3, Settings);
    }

    public void Require()
    {
        if (_unavailable is null) return;
        if (Environment.GetEnvironmentVariable("CI") == "true" || Environment.GetEnvironmentVariable("WARDEN_REQUIRE_SANDBOX") == "1") Assert.Fail(_unavailable);
        Assert.Skip(_unavailable);
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        await _postgres.DisposeAsync();
    }
}
