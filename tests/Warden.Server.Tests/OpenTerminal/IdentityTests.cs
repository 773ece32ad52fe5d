using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>The three identity modes: API key + X-User-Id, session tokens validated at Open WebUI, forwarded HS256 JWT.</summary>
public sealed class IdentityTests
{
    [Fact]
    public async Task ApiKeyMode_RequiresKeyAndUserId()
    {
        await using var terminal = await TerminalTestServer.StartAsync();
        using var noKey = terminal.For("alice", bearer: null);
        Assert.Equal(401, (await noKey.GetAsync("files/cwd")).Status);
        using var wrongKey = terminal.For("alice", bearer: "wrong");
        Assert.Equal(401, (await wrongKey.GetAsync("files/cwd")).Status);
        using var noUser = terminal.For("");
        Assert.Equal(400, (await noUser.GetAsync("files/cwd")).Status);
        using var ok = terminal.For("alice");
        Assert.Equal(200, (await ok.GetAsync("files/cwd")).Status);
        // Discovery stays anonymous, as Open WebUI fetches it without credentials.
        using var anonymous = terminal.For("", chatId: null, bearer: null);
        Assert.Equal(200, (await anonymous.GetAsync("openapi.json")).Status);
        Assert.Equal(200, (await anonymous.GetAsync("api/config")).Status);
        Assert.Equal(200, (await anonymous.GetAsync("health")).Status);
    }

    [Fact]
    public async Task SessionMode_ValidatesTokensAtOpenWebUi_CachesThem_RejectsPendingAndMismatch()
    {
        await using var owui = await FakeOpenWebUi.StartAsync();
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:OpenTerminal:OpenWebUiUrl"] = owui.Url });

        using var alice = terminal.For("user-alice", bearer: "token-alice");
        Assert.Equal(200, (await alice.GetAsync("files/cwd")).Status);
        Assert.Equal(200, (await alice.GetAsync("files/cwd")).Status);
        Assert.Equal(1, owui.Calls("token-alice"));

        using var bad = terminal.For("user-alice", bearer: "token-unknown");
        Assert.Equal(401, (await bad.GetAsync("files/cwd")).Status);
        using var pending = terminal.For("user-pending", bearer: "token-pending");
        Assert.Equal(403, (await pending.GetAsync("files/cwd")).Status);
        using var impostor = terminal.For("user-bob", bearer: "token-alice");
        Assert.Equal(403, (await impostor.GetAsync("files/cwd")).Status);
        using var noToken = terminal.For("user-alice", bearer: null);
        Assert.Equal(401, (await noToken.GetAsync("files/cwd")).Status);
        // The API key still works (Open WebUI's admin calls, bearer connections).
        using var service = terminal.For("user-alice");
        Assert.Equal(200, (await service.GetAsync("files/cwd")).Status);
    }

    [Fact]
    public async Task SessionMode_OpenWebUiDown_Is502()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:OpenTerminal:OpenWebUiUrl"] = "http://127.0.0.1:9" });
        using var alice = terminal.For("user-alice", bearer: "token-alice");
        Assert.Equal(502, (await alice.GetAsync("files/cwd")).Status);
    }

    private const string Secret = "forward-jwt-secret-for-tests-0123456789";

    [Fact]
    public async Task ForwardedJwtMode_UserComesFromTheVerifiedToken()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:OpenTerminal:ForwardJwtSecret"] = Secret });
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        using var valid = WithJwt(terminal, "", Jwt(Secret, new { sub = "jwt-user", role = "user", iss = "open-webui", iat = now, exp = now + 300 }));
        var (status, result) = await valid.PostAsync("files/write", new { path = "/home/user/who.txt", content = "me" });
        Assert.Equal(200, status);

        using var sameUser = WithJwt(terminal, "jwt-user", Jwt(Secret, new { sub = "jwt-user", role = "user", exp = now + 300 }));
        var (_, read) = await sameUser.GetAsync("files/read?path=/home/user/who.txt");
        Assert.Equal("me", read.GetProperty("content").GetString());

        using var mismatch = WithJwt(terminal, "someone-else", Jwt(Secret, new { sub = "jwt-user", exp = now + 300 }));
        Assert.Equal(403, (await mismatch.GetAsync("files/cwd")).Status);
        using var expired = WithJwt(terminal, "", Jwt(Secret, new { sub = "jwt-user", exp = now - 3600 }));
        Assert.Equal(401, (await expired.GetAsync("files/cwd")).Status);
        using var forged = WithJwt(terminal, "", Jwt("another-secret-of-enough-length", new { sub = "jwt-user", exp = now + 300 }));
        Assert.Equal(401, (await forged.GetAsync("files/cwd")).Status);
        using var pending = WithJwt(terminal, "", Jwt(Secret, new { sub = "jwt-p", role = "pending", exp = now + 300 }));
        Assert.Equal(403, (await pending.GetAsync("files/cwd")).Status);
        var unsigned = B64(new { alg = "none", typ = "JWT" }) + "." + B64(new { sub = "jwt-user", exp = now + 300 }) + ".";
        using var none = WithJwt(terminal, "", unsigned);
        Assert.Equal(401, (await none.GetAsync("files/cwd")).Status);
        using var missing = terminal.For("jwt-user");
        Assert.Equal(401, (await missing.GetAsync("files/cwd")).Status);
        _ = result;
    }

    private static TerminalClient WithJwt(TerminalTestServer terminal, string userId, string jwt)
    {
        var client = terminal.For(userId);
        client.Http.DefaultRequestHeaders.Add("X-OpenWebUI-User-Jwt", jwt);
        return client;
    }

    private static string Jwt(string secret, object claims)
    {
        var signingInput = B64(new { alg = "HS256", typ = "JWT" }) + "." + B64(claims);
        return signingInput + "." + Base64Url(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes(signingInput)));
    }

    private static string B64(object value) => Base64Url(JsonSerializer.SerializeToUtf8Bytes(value));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>A stand-in for Open WebUI's <c>GET /api/v1/auths/</c>: the documented SessionUserInfoResponse JSON per known token.</summary>
internal sealed class FakeOpenWebUi : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _calls = new();

    private FakeOpenWebUi(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    public int Calls(string token) => _calls.GetValueOrDefault(token);

    public static async Task<FakeOpenWebUi> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var fake = new FakeOpenWebUi(app);
        var users = new Dictionary<string, (string Id, string Role)>
        {
            ["token-alice"] = ("user-alice", "user"), ["token-pending"] = ("user-pending", "pending"),
        };
        app.MapGet("/api/v1/auths/", (HttpRequest request) =>
        {
            var token = request.Headers.Authorization.ToString().Replace("Bearer ", "", StringComparison.Ordinal);
            fake._calls.AddOrUpdate(token, 1, (_, n) => n + 1);
            if (!users.TryGetValue(token, out var user)) return Results.Json(new { detail = "Not authenticated" }, statusCode: 401);
            return Results.Json(new Dictionary<string, object?>
            {
                ["token"] = token, ["token_type"] = "Bearer", ["expires_at"] = null, ["id"] = user.Id, ["email"] = user.Id + "@example.com",
                ["name"] = user.Id, ["role"] = user.Role, ["profile_image_url"] = "/user.png", ["bio"] = null, ["gender"] = null,
                ["date_of_birth"] = null, ["status_emoji"] = null, ["status_message"] = null, ["status_expires_at"] = null,
                ["permissions"] = new { features = new { code_interpreter = true, direct_tool_servers = false } },
            });
        });
        await app.StartAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        fake.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return fake;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await _app.DisposeAsync();
    }
}
