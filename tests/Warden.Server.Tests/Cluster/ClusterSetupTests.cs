using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Warden.Core.Configuration;
using Warden.Server.Cluster;
using Warden.Server.Data;

namespace Warden.Server.Tests.Cluster;

/// <summary>When a server is a replica, who it is, and every way of getting that wrong stopping start-up with the setting named.</summary>
public sealed class ClusterSetupTests
{
    private const string Listen = "http://127.0.0.1:8090";

    private static ReplicaIdentity? Resolve(DatabaseKind database, string listen = Listen, params (string Key, string Value)[] settings) =>
        ClusterSetup.Resolve(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build(),
            database, listen);

    [Fact]
    public void Resolve_NoClusterSettings_IsASingleServer_EvenOnPostgres()
    {
        Assert.Null(Resolve(DatabaseKind.Sqlite));
        Assert.Null(Resolve(DatabaseKind.Postgres));
        Assert.Null(Resolve(DatabaseKind.Postgres, Listen, ("Warden:Cluster:Enabled", "false"), ("Warden:Cluster:ReplicaId", "r1")));
    }

    [Fact]
    public void Resolve_APodNameAsReplicaId_IsAccepted()
    {
        var pod = "warden-" + new string('a', 200) + "-7d9f8c6b5-x2x9q";
        Assert.Equal(pod, Resolve(DatabaseKind.Postgres, Listen, ("Warden:Cluster:ReplicaId", pod))!.ReplicaId);
        Assert.Throws<InvalidConfigurationException>(() => Resolve(DatabaseKind.Postgres, Listen, ("Warden:Cluster:ReplicaId", new string('a', 254))));
    }

    [Fact]
    public void Resolve_ReplicaIdOnPostgres_IsAReplica_AdvertisingItsListenUrl()
    {
        var replica = Resolve(DatabaseKind.Postgres, "http://10.1.2.3:9000;http://127.0.0.1:9001", ("Warden:Cluster:ReplicaId", "warden-0"))!;
        Assert.Equal("warden-0", replica.ReplicaId);
        Assert.Equal(new Uri("http://10.1.2.3:9000/"), replica.AdvertiseUrl);
        Assert.Equal(16, replica.Incarnation.Length);
    }

    [Fact]
    public void Resolve_AdvertiseUrlOnly_IsAReplica_WithAUniqueDefaultId()
    {
        var a = Resolve(DatabaseKind.Postgres, "http://0.0.0.0:8090", ("Warden:Cluster:AdvertiseUrl", "http://10.0.0.7:8090"))!;
        var b = Resolve(DatabaseKind.Postgres, "http://0.0.0.0:8090", ("Warden:Cluster:AdvertiseUrl", "http://10.0.0.7:8090"))!;
        Assert.Equal(new Uri("http://10.0.0.7:8090/"), a.AdvertiseUrl);
        Assert.NotEqual(a.ReplicaId, b.ReplicaId);
        Assert.Equal(a.ReplicaId, ClusterSetup.CheckReplicaId(a.ReplicaId));
    }

    [Fact]
    public void DefaultReplicaId_IsHostNameAndSuffix_ValidAndDistinctPerProcessStart()
    {
        var ids = Enumerable.Range(0, 50).Select(_ => ClusterSetup.DefaultReplicaId()).ToHashSet();
        Assert.Equal(50, ids.Count);
        Assert.All(ids, id =>
        {
            Assert.Equal(id, ClusterSetup.CheckReplicaId(id));
            Assert.Matches("-[0-9a-f]{6}$", id);
        });
    }

    [Theory]
    [InlineData("Warden:Cluster:Enabled", "true", "WARDEN_CLUSTER_ENABLED")]
    [InlineData("Warden:Cluster:ReplicaId", "r1", "WARDEN_CLUSTER_REPLICA_ID")]
    [InlineData("Warden:Cluster:AdvertiseUrl", "http://10.0.0.7:8090", "WARDEN_CLUSTER_ADVERTISE_URL")]
    public void Resolve_ClusterAskedForOnSqlite_FailsNamingTheSetting(string key, string value, string named)
    {
        var error = Assert.Throws<InvalidConfigurationException>(() => Resolve(DatabaseKind.Sqlite, Listen, (key, value)));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Contains("PostgreSQL", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Warden:Cluster:Enabled", "yes", "WARDEN_CLUSTER_ENABLED")]
    [InlineData("Warden:Cluster:ReplicaId", "r 1", "WARDEN_CLUSTER_REPLICA_ID")]
    [InlineData("Warden:Cluster:ReplicaId", "-r1", "WARDEN_CLUSTER_REPLICA_ID")]
    [InlineData("Warden:Cluster:ReplicaId", "r1/evil", "WARDEN_CLUSTER_REPLICA_ID")]
    [InlineData("Warden:Cluster:ReplicaId", "r1;evil", "WARDEN_CLUSTER_REPLICA_ID")]
    [InlineData("Warden:Cluster:AdvertiseUrl", "10.0.0.7:8090", "WARDEN_CLUSTER_ADVERTISE_URL")]
    [InlineData("Warden:Cluster:AdvertiseUrl", "ftp://10.0.0.7", "WARDEN_CLUSTER_ADVERTISE_URL")]
    [InlineData("Warden:Cluster:AdvertiseUrl", "http://10.0.0.7:8090/warden", "WARDEN_CLUSTER_ADVERTISE_URL")]
    [InlineData("Warden:Cluster:AdvertiseUrl", "http://0.0.0.0:8090", "WARDEN_CLUSTER_ADVERTISE_URL")]
    [InlineData("Warden:Cluster:AdvertiseUrl", "http://[::]:8090", "WARDEN_CLUSTER_ADVERTISE_URL")]
    public void Resolve_InvalidValue_FailsNamingTheSetting(string key, string value, string named)
    {
        var error = Assert.Throws<InvalidConfigurationException>(() => Resolve(DatabaseKind.Postgres, Listen, (key, value)));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://0.0.0.0:8090")]
    [InlineData("http://*:8090")]
    [InlineData("http://+:8090")]
    [InlineData("http://127.0.0.1:0")]
    public void Resolve_ListeningOnAWildcardWithoutAdvertiseUrl_FailsNamingIt(string listen)
    {
        var error = Assert.Throws<InvalidConfigurationException>(() => Resolve(DatabaseKind.Postgres, listen, ("Warden:Cluster:ReplicaId", "r1")));
        Assert.Contains("WARDEN_CLUSTER_ADVERTISE_URL", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(5, 20, true)]
    [InlineData(5, 10, true)]
    [InlineData(5, 9, false)]
    public void Validator_DeadAfterMustCoverTwoHeartbeats(double heartbeat, double deadAfter, bool valid)
    {
        var result = new ClusterOptionsValidator().Validate(null, new ClusterOptions { HeartbeatSeconds = heartbeat, DeadAfterSeconds = deadAfter });
        Assert.Equal(valid, result.Succeeded);
        if (!valid) Assert.Contains("WARDEN_CLUSTER_DEAD_AFTER", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_InvalidClusterTiming_FailsNamingTheSetting_EvenWhenClusterModeIsOff()
    {
        var app = WardenServer.Build(new ServerStartOptions
        {
            Overrides = new Dictionary<string, string?>
            {
                ["Warden:Urls"] = "http://127.0.0.1:0", ["Warden:Cluster:HeartbeatSeconds"] = "10", ["Warden:Cluster:DeadAfterSeconds"] = "5",
            },
            Environment = new Dictionary<string, string?>(),
        });
        await using (app)
        {
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken))
                .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            Assert.Contains("DeadAfterSeconds", string.Join("; ", error.Failures), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Build_ClusterSettingOnTheDefaultSqlite_StopsStartUpNamingTheSetting()
    {
        var state = Directory.CreateTempSubdirectory("warden-cluster-setup-").FullName;
        try
        {
            var error = Assert.Throws<InvalidConfigurationException>(() => WardenServer.Build(new ServerStartOptions
            {
                Overrides = new Dictionary<string, string?>
                {
                    ["Warden:Urls"] = "http://127.0.0.1:0", ["Warden:StateDirectory"] = state, ["Warden:Cluster:ReplicaId"] = "r1",
                },
                Environment = new Dictionary<string, string?>(),
            }));
            Assert.Contains("WARDEN_CLUSTER_REPLICA_ID", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public void GoneReason_SaysWhatBecameOfTheOwner()
    {
        var dead = TimeSpan.FromSeconds(20);
        var live = new ReplicaRow("r2", new Uri("http://10.0.0.2:8090"), "inc-1", DateTimeOffset.UnixEpoch, AgeMs: 1000, StoppedAt: null, StopReason: null);
        Assert.Null(new DirectoryEntry(ResourceKind.Session, "k", "r2", "inc-1", null, live).GoneReason(dead));
        Assert.True(live.IsLive(dead));
        Assert.False(live.IsLive(dead, extraAgeMs: 19_500));
        Assert.Contains("restarted", new DirectoryEntry(ResourceKind.Session, "k", "r2", "inc-0", null, live).GoneReason(dead), StringComparison.Ordinal);
        Assert.Contains("no longer registered", new DirectoryEntry(ResourceKind.Session, "k", "r2", "inc-1", null, null).GoneReason(dead), StringComparison.Ordinal);
        var stopped = live with { StoppedAt = DateTimeOffset.UnixEpoch, StopReason = "shut down" };
        Assert.StartsWith("shut down at 1970-01-01", new DirectoryEntry(ResourceKind.Session, "k", "r2", "inc-1", null, stopped).GoneReason(dead));
        var silent = live with { AgeMs = 25_000 };
        Assert.Equal("stopped sending heartbeats 25 s ago", silent.GoneReason(dead));
    }
}
