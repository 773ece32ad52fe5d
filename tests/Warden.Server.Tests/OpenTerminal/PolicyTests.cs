using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// Open WebUI's Terminals orchestrator API: policies at /terminal/api/v1/policies (shapes, codes, admin only, clamping,
/// refusals) and the /terminal/p/{policy}/… routes (a (policy, user) sandbox of its own, the policy's limits and env,
/// nobody else's sandbox, auth as on /terminal, path tricks refused, unknown policy 404).
/// </summary>
public sealed class PolicyTests(SharedTerminalServer shared) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => shared.Server;

    private HttpClient Admin()
    {
        var client = new HttpClient { BaseAddress = new Uri(Terminal.Server.Address, "/terminal/"), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TerminalTestServer.ApiKey);
        return client;
    }

    private static async Task<(int Status, JsonElement Body)> SendAsync(HttpClient client, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    private async Task<string> NewPolicyAsync(string data)
    {
        var id = "pol-" + Guid.NewGuid().ToString("N")[..8];
        using var admin = Admin();
        var (status, body) = await SendAsync(admin, HttpMethod.Put, $"api/v1/policies/{id}", data);
        Assert.True(status == 200, $"PUT policy: {status} {body}");
        return id;
    }

    [Fact]
    public async Task InteractiveTerminal_UnderAPolicy_IsThePolicysSandbox_AndInvisibleFromThePlainSurface()
    {
        // Open WebUI reaches a Terminals policy's PTY at /p/{policy}/api/terminals/{id} (HTTP create, WebSocket attach).
        var policy = await NewPolicyAsync("""{"memory_limit":"300Mi"}""");
        using var alice = Terminal.For("alice-policy-pty", chatId: null);
        var (created, terminal) = await alice.SendAsync(HttpMethod.Post, $"p/{policy}/api/terminals", null);
        Assert.True(created == 200, $"POST p/{policy}/api/terminals: {created} {terminal}");
        var id = terminal.GetProperty("id").GetString()!;

        // Not the plain surface's terminal: there the id is unknown (as another user's would be).
        Assert.Equal(404, (await alice.GetAsync($"api/terminals/{id}")).Status);
        await using (var plain = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-policy-pty"))
            Assert.Equal((4004, "Session not found"), await plain.ClosedAsync());

        await using var socket = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-policy-pty", prefix: $"p/{policy}/");
        await socket.SendKeysAsync("echo policy-home > ~/pty-policy.txt; echo done-$((4+4))\r");
        await socket.ReadUntilAsync("done-8");
        // The file is in the policy's home for this user, not in the user's plain home.
        var (inPolicy, read) = await alice.GetAsync($"p/{policy}/files/read?path=/home/user/pty-policy.txt");
        Assert.True(inPolicy == 200, $"read in the policy's home: {inPolicy} {read}");
        Assert.Contains("policy-home", read.GetProperty("content").GetString(), StringComparison.Ordinal);
        Assert.Equal(404, (await alice.GetAsync("files/read?path=/home/user/pty-policy.txt")).Status);
    }

    [Fact]
    public async Task Policies_CrudWithTheOrchestratorsShapesAndCodes()
    {
        using var admin = Admin();
        var id = "crud-" + Guid.NewGuid().ToString("N")[..8];
        var (created, body) = await SendAsync(admin, HttpMethod.Post, "api/v1/policies",
            "{\"id\":\"" + id + "\",\"data\":{\"env\":{\"A\":\"1\"},\"memory_limit\":\"256Mi\",\"custom\":{\"kept\":true}}}");
        Assert.Equal(201, created);
        Assert.Equal(id, body.GetProperty("id").GetString());
        Assert.Equal("256Mi", body.GetProperty("data").GetProperty("memory_limit").GetString());
        Assert.True(body.GetProperty("data").GetProperty("custom").GetProperty("kept").GetBoolean(), "unknown fields are kept (extra=allow)");
        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00$", body.GetProperty("created_at").GetString()!);

        var (again, conflict) = await SendAsync(admin, HttpMethod.Post, "api/v1/policies", $$$"""{"id":"{{{id}}}","data":{}}""");
        Assert.Equal(409, again);
        Assert.Equal($"Policy '{id}' already exists", conflict.GetProperty("detail").GetString());

        var (put, updated) = await SendAsync(admin, HttpMethod.Put, $"api/v1/policies/{id}", """{"idle_timeout_minutes":5}""");
        Assert.Equal(200, put);
        Assert.False(updated.GetProperty("data").TryGetProperty("env", out _), "PUT replaces the data with the bare body");
        Assert.Equal(5, updated.GetProperty("data").GetProperty("idle_timeout_minutes").GetDouble());

        var (got, one) = await SendAsync(admin, HttpMethod.Get, $"api/v1/policies/{id}");
        Assert.Equal(200, got);
        Assert.Equal(updated.GetProperty("updated_at").GetString(), one.GetProperty("updated_at").GetString());
        var (listed, list) = await SendAsync(admin, HttpMethod.Get, "api/v1/policies");
        Assert.Equal(200, listed);
        Assert.Contains(list.EnumerateArray(), p => p.GetProperty("id").GetString() == id);

        var (deleted, ok) = await SendAsync(admin, HttpMethod.Delete, $"api/v1/policies/{id}");
        Assert.Equal(200, deleted);
        Assert.True(ok.GetProperty("ok").GetBoolean());
        var (missing, detail) = await SendAsync(admin, HttpMethod.Get, $"api/v1/policies/{id}");
        Assert.Equal(404, missing);
        Assert.Equal($"Policy '{id}' not found", detail.GetProperty("detail").GetString());
        Assert.Equal(404, (await SendAsync(admin, HttpMethod.Delete, $"api/v1/policies/{id}")).Status);
    }

    [Fact]
    public async Task Policies_LimitsAboveTheServersAreClamped_AndWhatCannotBeHonouredIsRefused()
    {
        using var admin = Admin();
        // The test server's terminal memory is the default 1024 MB, storage 1024 MB, Limits:Cpus 1.
        var (status, body) = await SendAsync(admin, HttpMethod.Put, "api/v1/policies/clamp-" + Guid.NewGuid().ToString("N")[..6],
            """{"cpu_limit":"8","memory_limit":"64Gi","storage":"1Ti"}""");
        Assert.Equal(200, status);
        var data = body.GetProperty("data");
        Assert.Equal("1", data.GetProperty("cpu_limit").GetString());
        Assert.Equal("1024Mi", data.GetProperty("memory_limit").GetString());
        Assert.Equal("1024Mi", data.GetProperty("storage").GetString());

        foreach (var (bad, field) in new[]
        {
            ("""{"image":"ghcr.io/evil/image:latest"}""", "Image 'ghcr.io/evil/image:latest' not in allowed list"),
            ("""{"network":{"allow":["example.com"]}}""", "Network access is disabled on this server"), // no WARDEN_EGRESS_ALLOW here (PolicyEgressTests)
            ("""{"storage_mode":"replicated"}""", "storage_mode must be one of per-user, shared, shared-rwo"),
            ("""{"reset":{"schedule":"@weekly"}}""", "Lifecycle keys are not valid policy fields: reset"),
            ("""{"env":{"WARDEN_TERMINAL_MAX_BYTES_PER_USER":"1"}}""", "not an allowed variable name"),
            ("""{"memory_limit":"lots"}""", "memory_limit must be a quantity"),
            ("""{"cpu_limit":"2Gi"}""", "cpu_limit"),
            ("[1,2]", "JSON object"),
        })
        {
            var (code, problem) = await SendAsync(admin, HttpMethod.Put, "api/v1/policies/bad", bad);
            Assert.True(code == 400, $"{bad}: {code} {problem}");
            Assert.Contains(field, problem.GetProperty("detail").GetString()!, StringComparison.Ordinal);
        }
        Assert.Equal(404, (await SendAsync(admin, HttpMethod.Get, "api/v1/policies/bad")).Status);
        // An empty allow list is "no network", which is what the sandbox has: stored.
        Assert.Equal(200, (await SendAsync(admin, HttpMethod.Put, "api/v1/policies/no-net", """{"network":{"allow":[]}}""")).Status);
    }

    [Fact]
    public async Task Policies_RefuseNonAdmins()
    {
        using var admin = Admin();
        var (_, key) = await Json.PostAsync(Terminal.Server.Client, "/api/v1/admin/keys", new { name = "owui", scopes = new[] { "execute" } });
        using var user = new HttpClient { BaseAddress = admin.BaseAddress };
        user.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key.GetProperty("key").GetString());
        user.DefaultRequestHeaders.Add("X-User-Id", "alice");
        using var anonymous = new HttpClient { BaseAddress = admin.BaseAddress };
        foreach (var (method, path, json) in new[]
        {
            (HttpMethod.Get, "api/v1/policies", (string?)null), (HttpMethod.Post, "api/v1/policies", """{"id":"x","data":{}}"""),
            (HttpMethod.Put, "api/v1/policies/x", "{}"), (HttpMethod.Get, "api/v1/policies/x", null), (HttpMethod.Delete, "api/v1/policies/x", null),
        })
        {
            Assert.Equal(403, (await SendAsync(user, method, path, json)).Status);
            Assert.Equal(401, (await SendAsync(anonymous, method, path, json)).Status);
        }
        Assert.Equal(404, (await SendAsync(admin, HttpMethod.Get, "api/v1/policies/x")).Status);
    }

    [Fact]
    public async Task PolicyRoute_ServesTheUsersOwnPolicySandbox_WithThePolicysEnvAndMemory()
    {
        var id = await NewPolicyAsync("""{"env":{"POLICY_MARK":"blue"},"memory_limit":"300Mi"}""");
        using var alice = Terminal.For("alice-" + id);
        var result = await RunAsync(alice.Http, $"p/{id}/execute?wait=20",
            "echo mark=$POLICY_MARK; id -u; echo $HOME; echo policy > ~/where.txt");
        var output = TerminalClient.Output(result);
        Assert.Contains("mark=blue", output, StringComparison.Ordinal);

        // The policy's memory is the sandbox's limit, by what it does on every backend: 400 MB written fits the server's
        // terminal memory (1024 MB) but not the policy's 300 MiB. Not every backend shows memory.max inside.
        // (The marker is built at run time: some output echoes the command line.)
        const string Allocate = "python3 -c \"b = b'x' * (400 << 20); print('alloc' + '-ok', len(b))\"; echo exit=$?";
        var plainAlloc = TerminalClient.Output(await alice.RunAsync(Allocate, wait: 60));
        Assert.True(plainAlloc.Contains("alloc-ok 419430400", StringComparison.Ordinal), plainAlloc);
        using (var response = await alice.Http.PostAsync($"p/{id}/execute?wait=60", Json.Body(new { command = Allocate }), TestContext.Current.CancellationToken))
        {
            var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            // gVisor: the whole sandbox is the memory cgroup's OOM victim, so the answer is 503 "stopped; retry".
            if (TestBackend.Name == "gvisor" && response.StatusCode == HttpStatusCode.ServiceUnavailable)
                Assert.Contains("has stopped", text, StringComparison.Ordinal);
            else
            {
                Assert.True(response.IsSuccessStatusCode, text);
                var policyAlloc = TerminalClient.Output(JsonDocument.Parse(text).RootElement);
                Assert.False(policyAlloc.Contains("alloc-ok", StringComparison.Ordinal), policyAlloc);
                Assert.Matches("exit=[1-9]", policyAlloc); // it ran, and failed (MemoryError or the OOM kill), not cut short
            }
        }

        // The plain surface is the user's other terminal: another home (the policy's file is not there) and another uid.
        var plain = TerminalClient.Output(await alice.RunAsync("cat ~/where.txt 2>&1; id -u; echo mark=$POLICY_MARK"));
        Assert.DoesNotContain("policy", plain.Split('\n')[0], StringComparison.Ordinal);
        Assert.Contains("mark=\n", plain, StringComparison.Ordinal);
        var user = new Warden.Core.Ownership.Principal(Warden.Core.Ownership.Principal.ServerTenant, "alice-" + id);
        var policyUid = File.ReadAllText(Path.Combine(Terminal.StateDirectory, "users", Warden.Core.Workspaces.UserWorkspaces.KeyOf(user, id), "uid")).Trim();
        Assert.NotEqual(Terminal.UidOf("alice-" + id), policyUid);
    }

    [Fact]
    public async Task PolicyRoute_UserBCannotReachUserAsSandbox_UnderAnyPolicy()
    {
        var first = await NewPolicyAsync("{}");
        var second = await NewPolicyAsync("{}");
        var a = "a-" + first;
        var b = "b-" + first;
        using var alice = Terminal.For(a);
        using var bob = Terminal.For(b);
        var started = await RunAsync(alice.Http, $"p/{first}/execute?wait=20", "echo secret-of-a > ~/secret.txt; sleep 300");
        var process = started.GetProperty("id").GetString()!;
        // The probe below can see a sleep where there is one: Alice's own sandbox shows hers. (/proc, not ps: not every
        // backend's image has ps, and a missing ps would count 0 everywhere.)
        var own = TerminalClient.Output(await RunAsync(alice.Http, $"p/{first}/execute?wait=20", "echo sleeps=$(for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^[s]leep 300')"));
        Assert.True(own.Contains("sleeps=1\n", StringComparison.Ordinal), own);
        foreach (var policy in new[] { first, second })
        {
            var seen = TerminalClient.Output(await RunAsync(bob.Http, $"p/{policy}/execute?wait=55",
                "cat ~/secret.txt 2>&1; ls / /home 2>&1; find / -name secret.txt 2>/dev/null | head; echo sleeps=$(for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^[s]leep 300')"));
            Assert.DoesNotContain("secret-of-a", seen, StringComparison.Ordinal);
            // (stdout and stderr may come back in either order, so the count is named rather than last)
            Assert.True(seen.Contains("sleeps=0\n", StringComparison.Ordinal), seen);
            using var status = new HttpRequestMessage(HttpMethod.Get, $"p/{policy}/execute/{process}/status");
            using var response = await bob.Http.SendAsync(status, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        // Alice under the other policy is another terminal too: her first policy's process is not there.
        using var other = await alice.Http.GetAsync($"p/{second}/execute/{process}/status", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        using var kill = await alice.Http.DeleteAsync($"p/{first}/execute/{process}?force=true", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, kill.StatusCode);
    }

    [Fact]
    public async Task PolicyRoute_NeedsTheSameAuthAsTerminal_UnknownIs404_PathTricksAre400()
    {
        var id = await NewPolicyAsync("{}");
        using var noKey = Terminal.For("mallory", bearer: null);
        using var wrongKey = Terminal.For("mallory", bearer: "not-the-key");
        using var noUser = Terminal.For("", bearer: TerminalTestServer.ApiKey);
        Assert.Equal(401, (await noKey.GetAsync($"p/{id}/execute")).Status);
        Assert.Equal(401, (await wrongKey.GetAsync($"p/{id}/files/cwd")).Status);
        Assert.Equal(400, (await noUser.GetAsync($"p/{id}/execute")).Status);

        using var user = Terminal.For("carol");
        var (unknown, body) = await user.GetAsync("p/no-such-policy/execute");
        Assert.Equal(404, unknown);
        Assert.Equal("Policy 'no-such-policy' not found", body.GetProperty("detail").GetString());

        // (A bare "p/%2e%2e/" never reaches the prefix: Kestrel removes dot segments first, leaving the caller's plain /terminal/ route.)
        foreach (var trick in new[] { "p/..%2F..%2Fapi/execute", "p/%2e%2e%2fx/execute", "p/a%2Fb/execute", "p/.hidden/execute", "p/a..b/execute",
            "p/a%00b/execute", "p/a%0Ab/execute", "p/a%5Cb/execute", "p/" + new string('a', 65) + "/execute" })
        {
            var raw = new Uri(Terminal.Server.Address, "/terminal/" + trick);
            using var request = new HttpRequestMessage(HttpMethod.Get, raw);
            using var response = await user.Http.SendAsync(request, TestContext.Current.CancellationToken);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{trick}: {(int)response.StatusCode}");
        }
    }

    private static async Task<JsonElement> RunAsync(HttpClient client, string path, string command)
    {
        using var response = await client.PostAsync(path, Json.Body(new { command }), TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
