using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Warden.Server;

namespace Warden.Benchmarks;

/// <summary>
/// Warden through HTTP: the real Kestrel server on a loopback port (in this process, with its own engine and slots),
/// called by one keep-alive <see cref="HttpClient"/> the way an integration would call it.
/// </summary>
internal sealed class HttpRunner : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _client;

    private HttpRunner(WebApplication app, HttpClient client)
    {
        _app = app;
        _client = client;
    }

    public Uri BaseAddress => _client.BaseAddress!;

    public static async Task<HttpRunner> StartAsync(IReadOnlyDictionary<string, string?> overrides)
    {
        var settings = new Dictionary<string, string?>(overrides)
        {
            ["Warden:Urls"] = $"http://127.0.0.1:{FreePort()}",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        // A shared machine: each engineer's (or CI job's) bench gets its own state directory, or it would wait on the lock.
        if (Environment.GetEnvironmentVariable("WARDEN_STATE_DIR") is { Length: > 0 } state) settings["Warden:StateDirectory"] = state;
        var app = WardenServer.Build(new ServerStartOptions { Overrides = settings, Environment = new Dictionary<string, string?>() });
        await app.StartAsync().ConfigureAwait(false); // starts the backend too (slots and parked helpers)
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10), UseProxy = false };
        var client = new HttpClient(handler) { BaseAddress = new Uri(settings["Warden:Urls"]!), Timeout = TimeSpan.FromSeconds(60) };
        return new HttpRunner(app, client);
    }

    public async Task<double> ExecuteAsync(Workload workload)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["language"] = workload.Language, ["code"] = workload.Code });
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var clock = Stopwatch.StartNew();
        using var response = await _client.PostAsync("/api/v1/execute", content).ConfigureAwait(false);
        var bytes = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
        double ms = clock.Elapsed.TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"Warden HTTP ({workload.Language}): {(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(bytes)}");
        using var json = JsonDocument.Parse(bytes);
        workload.Check("Warden HTTP", json.RootElement.GetProperty("stdout").GetString() ?? "", json.RootElement.GetRawText());
        return ms;
    }

    /// <summary>A port the kernel just handed out and took back; a race with another process is possible but harmless here.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
