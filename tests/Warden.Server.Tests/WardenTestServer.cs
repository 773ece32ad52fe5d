using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Sandboxing;

namespace Warden.Server.Tests;

/// <summary>A real Warden server on a free loopback port with a real sandbox backend.</summary>
public sealed class WardenTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WardenTestServer(WebApplication app, Uri address, string dataDirectory)
    {
        _app = app;
        Address = address;
        DataDirectory = dataDirectory;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>This server's own database and audit log live here (deleted with the server).</summary>
    public string DataDirectory { get; }

    public string AuditLogPath => Path.Combine(DataDirectory, "audit.log");

    public string DatabasePath => Path.Combine(DataDirectory, "warden.db");

    /// <summary>Stops the server the way SIGTERM does (graceful), leaving the data directory for inspection.</summary>
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(90));
    }

    private bool _stopped;

    public static async Task<WardenTestServer> StartAsync(Dictionary<string, string?>? overrides = null, string? apiKey = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Warden:Urls"] = "http://127.0.0.1:0",
            ["Warden:MaxConcurrent"] = "2",
            ["Warden:Backend"] = TestBackend.Name,
        };
        if (apiKey is not null) settings["Warden:ApiKey"] = apiKey;
        // Each server gets its own key store, history and audit log: tests must not see each other's keys or rows.
        var data = Directory.CreateTempSubdirectory("warden-test-").FullName;
        settings["Warden:Database:ConnectionString"] = "sqlite:" + Path.Combine(data, "warden.db");
        settings["Warden:Audit:Path"] = Path.Combine(data, "audit.log");
        // Engineers running suites side by side give each its own state directory (one process per directory).
        if (Environment.GetEnvironmentVariable("WARDEN_TEST_STATE_DIR") is { Length: > 0 } state) settings["Warden:StateDirectory"] = state;
        // The warm pool is on in the product; the suites run without it unless WARDEN_TEST_POOL=on (a pass of its own), so
        // both paths are tested. A null override removes a setting: the server then runs the product's default.
        settings["Warden:Pool:Enabled"] = Environment.GetEnvironmentVariable("WARDEN_TEST_POOL") is "on" or "true" or "1" ? "true" : "false";
        // Warm kernels (on in the product) run under sandbox names of their own, not the session's: the suites that look for
        // a session's sandboxes by its id run without them; WarmKernelTests and the Jupyter warm test turn them on.
        settings["Warden:Sessions:WarmKernels"] = "0";
        foreach (var (k, v) in overrides ?? [])
        {
            if (v is null) settings.Remove(k);
            else settings[k] = v;
        }
        // Only the test's own settings: the machine's WARDEN_* variables must not change what is tested.
        var app = WardenServer.Build(new ServerStartOptions { Overrides = settings, Environment = new Dictionary<string, string?>() });
        RequireSandbox(app.Services);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var server = new WardenTestServer(app, new Uri(address), data);
        if (apiKey is not null) server.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return server;
    }

    /// <summary>Skips when this host cannot sandbox, except under CI where that is a failure.</summary>
    private static void RequireSandbox(IServiceProvider services)
    {
        var probe = services.GetRequiredService<BackendSelector>().Selected.Probe();
        if (probe.CanRun) return;
        var reason = string.Join("; ", probe.Checks.Where(c => !c.Ok && c.Required).Select(c => $"{c.Name}: {c.Detail}"));
        if (Environment.GetEnvironmentVariable("CI") == "true" || Environment.GetEnvironmentVariable("WARDEN_REQUIRE_SANDBOX") == "1")
            Assert.Fail($"The sandbox backend cannot run here, and sandbox tests must not be skipped: {reason}");
        Assert.Skip($"The sandbox backend cannot run here: {reason}");
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await StopAsync();
        await _app.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>One server shared by the tests of a class (start-up parks sandbox helpers: worth sharing).</summary>
public sealed class SharedServer : IAsyncLifetime
{
    public WardenTestServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await WardenTestServer.StartAsync();

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
