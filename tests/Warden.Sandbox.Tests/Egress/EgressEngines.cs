using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Egress;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Egress;

/// <summary>
/// Collection fixture for the egress tests: a loopback origin, a listener standing in for Warden's own port, and one
/// engine per backend whose ceiling names test hosts mapped to 127.0.0.1 (WARDEN_EGRESS_HOSTS) with only the origin's
/// port opened (WARDEN_EGRESS_ALLOW_PRIVATE). The stand-in's port is opened too, and registered as Warden's own
/// endpoint: the own-endpoint rule must refuse it even inside an opened range.
/// </summary>
public sealed class EgressEngines : IAsyncLifetime
{
    private readonly Dictionary<string, TestEngine> _engines = new(StringComparer.Ordinal);

    internal OriginServer Origin { get; } = new();

    /// <summary>The credential the proxy adds for api.test; it must never be readable inside a sandbox.</summary>
    public string Secret { get; } = "Bearer s3cret-" + Guid.NewGuid().ToString("N");

    /// <summary>The credentials file (0600, the test's own temp directory): Warden reads it, sandboxes never see it.</summary>
    public string CredentialsPath { get; } = Path.Combine(Directory.CreateTempSubdirectory("warden-egress-creds-").FullName, "credentials.json");

    /// <summary>A listener standing in for Warden's own HTTP port (the tests' engines have no Kestrel).</summary>
    internal TcpListener OwnPort { get; } = new(IPAddress.Loopback, 0);

    public int OwnPortNumber => ((IPEndPoint)OwnPort.LocalEndpoint).Port;

    public async ValueTask InitializeAsync()
    {
        OwnPort.Start();
        File.WriteAllText(CredentialsPath, $$"""[{"host": "api.test", "header": "Authorization", "value": "{{Secret}}", "upstream": "http"}]""");
        File.SetUnixFileMode(CredentialsPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string own = OwnPortNumber.ToString(CultureInfo.InvariantCulture);
        var settings = new Dictionary<string, string?>
        {
            ["Warden:Egress:Allow"] = "allowed.test:*,pypi.test:*,own.test:*,api.test:*",
            ["Warden:Egress:Hosts"] = "allowed.test=127.0.0.1,other.test=127.0.0.1,pypi.test=127.0.0.1,own.test=127.0.0.1,api.test=127.0.0.1",
            ["Warden:Egress:CredentialsFile"] = CredentialsPath,
            ["Warden:Egress:AllowPrivate"] = $"127.0.0.1/32:{Origin.PortText},127.0.0.1/32:{own}",
        };
        foreach (var backend in Backends.Names)
        {
            var engine = await TestEngine.CreateAsync(backend, settings);
            _engines[backend] = engine;
            if (engine.UnavailableReason is null)
                engine.Services.GetRequiredService<EgressProxy>().RefuseOwnEndpoints([new IPEndPoint(IPAddress.Loopback, OwnPortNumber)]);
        }
    }

    public TestEngine this[string backend] => _engines[backend];

    public async ValueTask DisposeAsync()
    {
        var leaks = new List<string>();
        foreach (var engine in _engines.Values)
        {
            await engine.DisposeAsync();
            if (engine.Instance is { } instance) leaks.AddRange(HostLeaks.ForInstance(instance));
        }
        OwnPort.Stop();
        OwnPort.Dispose();
        await Origin.DisposeAsync();
        Directory.Delete(Path.GetDirectoryName(CredentialsPath)!, recursive: true);
        if (leaks.Count > 0) throw new InvalidOperationException("Disposing the egress engines left things behind:\n" + string.Join("\n", leaks));
    }
}

[CollectionDefinition(nameof(EgressCollection))]
public sealed class EgressCollection : ICollectionFixture<EgressEngines>;
