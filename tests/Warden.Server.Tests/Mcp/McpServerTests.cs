using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Warden.Server.Tests.Mcp;

/// <summary>
/// <c>/mcp</c> with the official C# SDK's client (the TypeScript SDK's suite is tests/mcp-client): what the server's
/// configuration changes, and bad input answered as a problem.
/// </summary>
public sealed class McpServerTests : IDisposable
{
    private const string Key = "mcp-test-key";

    // A state directory of its own: one Warden per state directory, and other suites may hold the default one.
    private readonly string _state = Directory.CreateTempSubdirectory("warden-mcp-state-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private Task<WardenTestServer> StartAsync(bool terminal = true) => WardenTestServer.StartAsync(new()
    {
        ["Warden:StateDirectory"] = _state, ["Warden:OpenTerminal:Enabled"] = terminal ? "true" : "false",
    }, apiKey: Key);

    private static async Task<McpClient> ConnectAsync(WardenTestServer server, string user, CancellationToken cancellationToken) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(server.Address, "/mcp"),
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + Key, ["X-User-Id"] = user },
        }), cancellationToken: cancellationToken);

    [Fact]
    public async Task OpenTerminalDisabled_OffersOnlyTheSandboxTools_AndRunCodeWorks()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await StartAsync(terminal: false);
        await using var client = await ConnectAsync(server, "csharp-user", ct);

        var tools = await client.ListToolsAsync(cancellationToken: ct);
        Assert.Equal(["run_code", "run_python"], tools.Select(t => t.Name).Order());

        var result = await client.CallToolAsync("run_code", new Dictionary<string, object?> { ["language"] = "python", ["code"] = "print(2+3)" },
            cancellationToken: ct);
        Assert.False(result.IsError);
        Assert.Contains("--- stdout ---\n5\n", Assert.IsType<TextContentBlock>(result.Content[0]).Text);
    }

    [Fact]
    public async Task OpenTerminalEnabled_OffersTheTerminalTools()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await StartAsync();
        await using var client = await ConnectAsync(server, "csharp-user", ct);

        var tools = (await client.ListToolsAsync(cancellationToken: ct)).Select(t => t.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "run_code", "run_python", "run_shell", "list_files", "read_file", "write_file" }, tools);
    }

    [Fact]
    public async Task ControlCharacterInUserHeader_IsProblem400_NotA500()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp")
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", Key);
        request.Headers.TryAddWithoutValidation("X-User-Id", "eve\u0001");
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");

        var response = await server.Client.SendAsync(request, ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("X-User-Id", await response.Content.ReadAsStringAsync(ct));
    }

    [Fact]
    public async Task ForwardedJwtMode_TheUserIsTheVerifiedSubject_AndAKeyWithoutTheJwtIsRefused()
    {
        const string secret = "forward-jwt-secret-for-mcp-tests-0123456789";
        var ct = TestContext.Current.CancellationToken;
        await using var server = await WardenTestServer.StartAsync(new()
        {
            ["Warden:StateDirectory"] = _state, ["Warden:OpenTerminal:ForwardJwtSecret"] = secret,
        }, apiKey: Key);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        Assert.Equal(HttpStatusCode.Unauthorized, (await ListToolsAsync(server, null, null, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await ListToolsAsync(server, Jwt("another-secret-of-enough-length-000", new { sub = "u", exp = now + 300 }), null, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await ListToolsAsync(server, Jwt(secret, new { sub = "jwt-user", exp = now + 300 }), "someone-else", ct)).StatusCode);

        await using var client = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(server.Address, "/mcp"),
            AdditionalHeaders = new Dictionary<string, string>
            {
                ["Authorization"] = "Bearer " + Key, ["X-OpenWebUI-User-Jwt"] = Jwt(secret, new { sub = "jwt-user", role = "user", exp = now + 300 }),
            },
        }), cancellationToken: ct);
        var result = await client.CallToolAsync("run_python", new Dictionary<string, object?> { ["code"] = "x = 41\nx + 1" }, cancellationToken: ct);
        Assert.False(result.IsError);
        var sessions = server.Services.GetService(typeof(Warden.Core.Sessions.SessionManager)) as Warden.Core.Sessions.SessionManager;
        var everyone = new Warden.Core.Ownership.Requester(new(Warden.Core.Ownership.Principal.ServerTenant, "t"), SeesEverything: true);
        Assert.Equal("jwt-user", Assert.Single(sessions!.List(everyone)).Owner.User);
    }

    private static async Task<HttpResponseMessage> ListToolsAsync(WardenTestServer server, string? jwt, string? user, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp")
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", Key);
        if (jwt is not null) request.Headers.TryAddWithoutValidation("X-OpenWebUI-User-Jwt", jwt);
        if (user is not null) request.Headers.TryAddWithoutValidation("X-User-Id", user);
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        return await server.Client.SendAsync(request, ct);
    }

    private static string Jwt(string secret, object claims)
    {
        var signingInput = B64(new { alg = "HS256", typ = "JWT" }) + "." + B64(claims);
        return signingInput + "." + Base64Url(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes(signingInput)));
    }

    private static string B64(object value) => Base64Url(JsonSerializer.SerializeToUtf8Bytes(value));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
