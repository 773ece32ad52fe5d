using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Execution;
using Warden.Core.Terminals;
using Warden.Server.Tests.OpenTerminal;

namespace Warden.Server.Tests.Fuzz;

/// <summary>The fuzz test's dealings with its server: credentials and first objects, id pools, clean-up, health.</summary>
public sealed partial class ApiFuzzTests
{
    /// <summary>Creates the stored keys, logs in with the Jupyter password, and makes one of each object for valid ids.</summary>
    private static async Task<FuzzState> PrepareAsync(WardenTestServer server, CancellationToken ct)
    {
        async Task<string> CreateKeyAsync(string name, string scope)
        {
            var (response, body) = await Json.PostAsync(server.Client, "/api/v1/admin/keys", new { name, scopes = new[] { scope } });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            return body.GetProperty("key").GetString()!;
        }
        var executeKey = await CreateKeyAsync("fuzz-execute", "execute");
        var adminKey = await CreateKeyAsync("fuzz-admin", "admin");

        using var handler = new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false };
        using var browser = new HttpClient(handler) { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(30) };
        var page = await browser.GetAsync("/login", ct);
        var xsrf = Cookie(page, "_xsrf");
        using var login = new HttpRequestMessage(HttpMethod.Post, "/login")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["_xsrf"] = xsrf, ["password"] = Password }),
        };
        login.Headers.Add("Cookie", "_xsrf=" + xsrf);
        var loggedIn = await browser.SendAsync(login, ct);
        Assert.True((int)loggedIn.StatusCode is >= 300 and < 400, $"login answered {loggedIn.StatusCode}");
        var state = new FuzzState
        {
            BootstrapKey = TerminalTestServer.ApiKey, ExecuteKey = executeKey, AdminKey = adminKey, Password = Password,
            LoginCookie = Cookie(loggedIn, "warden-jupyter-login"), Xsrf = xsrf,
        };

        var (created, session) = await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "python" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        FuzzState.Remember(state.Sessions, session.GetProperty("id").GetString()!);
        var kernel = await server.Client.PostAsync("/api/kernels", null, ct);
        FuzzState.Remember(state.Kernels, (await Json.ReadAsync(kernel)).GetProperty("id").GetString()!);
        var (_, run) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "python", code = "print(1)" });
        FuzzState.Remember(state.Executions, run.GetProperty("execution_id").GetString()!);
        using var user = new HttpRequestMessage(HttpMethod.Post, "/terminal/execute?wait=5") { Content = Json.Body(new { command = "echo fuzz > fuzz.txt" }) };
        user.Headers.Add("X-User-Id", "fuzz-user");
        user.Headers.Add("X-Session-Id", "chat-1");
        var command = await server.Client.SendAsync(user, ct);
        FuzzState.Remember(state.Processes, (await Json.ReadAsync(command)).GetProperty("id").GetString()!);
        return state;
    }

    private static string Cookie(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues("Set-Cookie", out var values)
            ? values.Select(v => v.Split(';')[0]).Where(v => v.StartsWith(name + "=", StringComparison.Ordinal)).Select(v => v[(name.Length + 1)..]).First()
            : throw new InvalidOperationException($"no {name} cookie");

    /// <summary>Keeps the id pools fed from what valid requests created, and the number of live kernels small.</summary>
    private static async Task FollowUpAsync(WardenTestServer server, FuzzState state, FuzzOperation operation, FuzzResponse response, CancellationToken ct)
    {
        if (response.Status is < 200 or >= 300 || response.ContentType?.Contains("json", StringComparison.Ordinal) != true) return;
        JsonElement body;
        try
        {
            body = JsonDocument.Parse(response.Body).RootElement.Clone();
        }
        catch (JsonException)
        {
            return;
        }
        string? Id(string property) => body.ValueKind == JsonValueKind.Object && body.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        switch (operation.Id)
        {
            case "create_session" when Id("id") is { } id:
                FuzzState.Remember(state.Sessions, id);
                break;
            case "jupyter_start_kernel" when Id("id") is { } id:
                FuzzState.Remember(state.Kernels, id);
                break;
            case "execute" when Id("execution_id") is { } id:
                FuzzState.Remember(state.Executions, id);
                break;
            case "create_api_key" when Id("id") is { } id:
                FuzzState.Remember(state.Keys, id);
                break;
            case "run_command" when Id("id") is { } id:
                FuzzState.Remember(state.Processes, id);
                break;
        }
        // Each session is a kernel in its own sandbox: keep at most four alive (the oldest go first).
        var sessions = server.Services.GetRequiredService<Warden.Core.Sessions.SessionManager>().List(Everything);
        foreach (var old in sessions.OrderBy(s => s.CreatedAt).Take(Math.Max(0, sessions.Count - 4)))
            await server.Client.DeleteAsync($"/api/v1/sessions/{Uri.EscapeDataString(old.Id)}", ct);
    }

    /// <summary>The bootstrap (admin) key's view: every tenant's sessions and kernels.</summary>
    private static readonly Warden.Core.Ownership.Requester Everything =
        new(new Warden.Core.Ownership.Principal(Warden.Core.Ownership.Principal.ServerTenant, "fuzz"), SeesEverything: true);

    /// <summary>A kernel that is alive now (the fuzz deletes and shuts kernels down): the newest known one, or a new one.</summary>
    private static async Task<string> LiveKernelAsync(WardenTestServer server, FuzzState state, CancellationToken ct)
    {
        var alive = server.Services.GetRequiredService<Warden.Core.Sessions.SessionManager>().List(Everything).Select(s => s.Id).ToHashSet();
        if (state.Kernels.LastOrDefault(alive.Contains) is { } known) return known;
        var started = await server.Client.PostAsync("/api/kernels", null, ct);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var id = (await Json.ReadAsync(started)).GetProperty("id").GetString()!;
        FuzzState.Remember(state.Kernels, id);
        return id;
    }

    private static async Task CleanUpAsync(WardenTestServer server, CancellationToken ct)
    {
        foreach (var session in server.Services.GetRequiredService<Warden.Core.Sessions.SessionManager>().List(Everything))
        {
            var deleted = await server.Client.DeleteAsync($"/api/v1/sessions/{Uri.EscapeDataString(session.Id)}", ct);
            Assert.True(deleted.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotFound, $"deleting session {session.Id}: {deleted.StatusCode}");
        }
    }

    /// <summary>Waits until no execution runs and every user's terminal sandbox was reaped for idleness.</summary>
    private static async Task SettleAsync(WardenTestServer server, CancellationToken ct)
    {
        var engine = server.Services.GetRequiredService<ExecutionEngine>();
        var terminals = server.Services.GetRequiredService<TerminalManager>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((engine.Stats.Active > 0 || engine.Stats.Queued > 0 || terminals.RunningCount > 0) && DateTime.UtcNow < deadline)
            await Task.Delay(250, ct);
        Assert.True(terminals.RunningCount == 0, $"{terminals.RunningCount} terminal sandboxes still run 60 s after the last request");
        Assert.True(engine.Stats.Active == 0, $"{engine.Stats.Active} executions still active 60 s after the last request");
    }

    private static async Task<List<string>> HealthProblemsAsync(WardenTestServer server, CancellationToken ct)
    {
        var problems = new List<string>();
        foreach (var path in new[] { "/healthz", "/readyz", "/api/v1/health", "/terminal/health" })
        {
            var response = await server.Client.GetAsync(path, ct);
            if (response.StatusCode != HttpStatusCode.OK) problems.Add($"after the fuzz {path} answered {(int)response.StatusCode}");
        }
        var (run, result) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "python", code = "print(6 * 7)" });
        if (run.StatusCode != HttpStatusCode.OK || result.GetProperty("stdout").GetString() != "42\n")
            problems.Add($"after the fuzz an execution answered {(int)run.StatusCode}: {result}");
        return problems;
    }
}
