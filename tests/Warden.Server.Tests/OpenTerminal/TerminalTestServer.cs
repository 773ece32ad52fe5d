using System.Net.Http.Headers;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>A Warden server with its own state directory (users' homes), so tests never share homes with a real install.</summary>
public sealed class TerminalTestServer : IAsyncDisposable
{
    public const string ApiKey = "terminal-test-key-0123456789";
    private static int _servers;

    private readonly bool _keepState;

    private TerminalTestServer(WardenTestServer server, string stateDirectory, bool keepState)
    {
        Server = server;
        StateDirectory = stateDirectory;
        _keepState = keepState;
    }

    public WardenTestServer Server { get; }

    public string StateDirectory { get; }

    /// <param name="stateDirectory">An existing installation's state directory (a restart): kept when this server stops.</param>
    /// <param name="uidBase">That installation's user uid range.</param>
    public static async Task<TerminalTestServer> StartAsync(Dictionary<string, string?>? overrides = null, string? apiKey = ApiKey,
        string? stateDirectory = null, int? uidBase = null)
    {
        var state = stateDirectory ?? NewStateDirectory();
        // Each test server is a separate installation; give each its own uid range so that concurrent ones never
        // run two users under one uid (a single installation guarantees that by itself).
        uidBase ??= NewUidBase();
        var settings = new Dictionary<string, string?>
        {
            ["Warden:StateDirectory"] = state, ["Warden:Terminal:UserUidBase"] = uidBase.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Warden:Terminal:UserUidCount"] = "1000",
        };
        foreach (var (k, v) in overrides ?? []) settings[k] = v;
        var server = await WardenTestServer.StartAsync(settings, apiKey);
        return new TerminalTestServer(server, state, keepState: stateDirectory is not null);
    }

    public static string NewStateDirectory() => Path.Combine(Path.GetTempPath(), "warden-terminal-tests", Guid.NewGuid().ToString("N")[..12]);

    public static int NewUidBase() => 400000 + (Interlocked.Increment(ref _servers) + Environment.ProcessId % 1000 * 100) * 1000;

    /// <summary>The host path of a user's home (their filesystem's mount point).</summary>
    public string HostHome(string userId) => Path.Combine(StateDirectory, "users", Warden.Core.Workspaces.UserWorkspaces.KeyOf(new Warden.Core.Ownership.Principal(Warden.Core.Ownership.Principal.ServerTenant, userId)), "home");

    /// <summary>The host uid a user's home and sandbox belong to (as the installation recorded it).</summary>
    public string UidOf(string userId) => File.ReadAllText(Path.Combine(StateDirectory, "users",
        Warden.Core.Workspaces.UserWorkspaces.KeyOf(new Warden.Core.Ownership.Principal(Warden.Core.Ownership.Principal.ServerTenant, userId)), "uid")).Trim();

    /// <summary>A client acting as Open WebUI's backend for one user and chat (bearer key + X-User-Id + X-Session-Id).</summary>
    public TerminalClient For(string userId, string? chatId = "chat-1", string? bearer = ApiKey)
    {
        var client = new HttpClient { BaseAddress = new Uri(Server.Address, "/terminal/"), Timeout = TimeSpan.FromSeconds(60) };
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (userId.Length > 0) client.DefaultRequestHeaders.Add("X-User-Id", userId);
        if (chatId is not null) client.DefaultRequestHeaders.Add("X-Session-Id", chatId);
        return new TerminalClient(client);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        if (_keepState) return;
        // Never recurse into a home still mounted (a failed test): that would be deleting through the mount.
        if (File.ReadLines("/proc/self/mountinfo").Any(l => l.Contains(StateDirectory + "/", StringComparison.Ordinal))) return;
        try { Directory.Delete(StateDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Calls the Open Terminal API the way Open WebUI's tool calls do.</summary>
public sealed class TerminalClient(HttpClient http) : IDisposable
{
    public HttpClient Http { get; } = http;

    public async Task<(int Status, JsonElement Body)> SendAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null) request.Content = Json.Body(body);
        using var response = await Http.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var json = text.Length > 0 && (response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.Ordinal) ?? false)
            ? JsonDocument.Parse(text).RootElement.Clone()
            : JsonDocument.Parse(JsonSerializer.Serialize(text)).RootElement.Clone();
        return ((int)response.StatusCode, json);
    }

    public Task<(int Status, JsonElement Body)> GetAsync(string path) => SendAsync(HttpMethod.Get, path);

    public Task<(int Status, JsonElement Body)> PostAsync(string path, object body) => SendAsync(HttpMethod.Post, path, body);

    /// <summary>run_command with wait; returns the response body (asserting 200).</summary>
    public async Task<JsonElement> RunAsync(string command, double wait = 20)
    {
        var (status, body) = await PostAsync($"execute?wait={wait}", new { command });
        Assert.True(status == 200, $"run_command returned {status}: {body}");
        return body;
    }

    public static string Output(JsonElement result) =>
        string.Concat(result.GetProperty("output").EnumerateArray().Select(e => e.GetProperty("data").GetString()));

    public static string Stdout(JsonElement result) =>
        string.Concat(result.GetProperty("output").EnumerateArray().Where(e => e.GetProperty("type").GetString() == "stdout").Select(e => e.GetProperty("data").GetString()));

    public void Dispose() => Http.Dispose();
}

/// <summary>One terminal server shared by a test class.</summary>
public sealed class SharedTerminalServer : IAsyncLifetime
{
    public TerminalTestServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await TerminalTestServer.StartAsync();

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
