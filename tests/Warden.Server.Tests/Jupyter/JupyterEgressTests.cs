using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Ownership;
using Warden.Core.Sessions;
using Warden.Sessions.Tests.Egress;

namespace Warden.Server.Tests.Jupyter;

/// <summary>
/// Jupyter kernels and egress: <c>Warden:Jupyter:Network</c> is the default of a kernel whose start request names no
/// network, <c>"network"</c> in <c>POST /api/kernels</c> overrides it, a pattern outside the ceiling is a 400. A kernel
/// with network reaches only the allowed host through the proxy, audited under the kernel's owner; deleting the kernel
/// removes its egress namespace. Runs on WARDEN_TEST_BACKEND; loopback only.
/// </summary>
[Collection(nameof(EgressNamespaceCount))]
public sealed class JupyterEgressTests
{
    private const string Key = "jupyter-egress-tests-key-0123456";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    private static async Task<WardenTestServer> StartAsync(EchoOrigin origin, string? network)
    {
        var settings = EgressProbe.Settings(origin);
        settings["Warden:Audit:Enabled"] = "true";
        if (network is not null) settings["Warden:Jupyter:Network"] = network;
        return await WardenTestServer.StartAsync(settings, Key);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> StartKernelAsync(WardenTestServer server, string? body)
    {
        var response = await server.Client.PostAsync("/api/kernels", body is null ? null : new StringContent(body, Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        return (response.StatusCode, await Json.ReadAsync(response));
    }

    /// <summary>Runs a cell in the kernel as Warden does for its channels (the kernel is a session of the same id).</summary>
    private static async Task<string> RunAsync(WardenTestServer server, string id, string code)
    {
        var ct = TestContext.Current.CancellationToken;
        var session = server.Services.GetRequiredService<SessionManager>().Get(id, new Requester(new Principal(Principal.ServerTenant, "test"), SeesEverything: true));
        var result = await session.ExecuteAsync(new CellRequest(code), null, ct).WaitAsync(Wait, ct);
        return string.Concat(result.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text));
    }

    [Fact]
    public async Task ServerDefault_KernelReachesAllowedOnly_AuditedUnderOwner_NamespaceGoneAfterDelete()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var origin = new EchoOrigin();
        await using var server = await StartAsync(origin, "true");
        int before = EgressProbe.NamespaceHandles();

        var (status, kernel) = await StartKernelAsync(server, null);
        Assert.Equal(HttpStatusCode.Created, status);
        string id = kernel.GetProperty("id").GetString()!;
        Assert.Equal(before + 1, EgressProbe.NamespaceHandles());

        string mark = Guid.NewGuid().ToString("N");
        var output = await RunAsync(server, id, EgressProbe.Python(origin, mark));
        Assert.Contains($"allowed GET /{mark} HTTP/1.1", output, StringComparison.Ordinal);
        Assert.Contains("other 403", output, StringComparison.Ordinal);
        Assert.Contains("direct ConnectionRefusedError", output, StringComparison.Ordinal);
        Assert.Equal([$"GET /{mark} HTTP/1.1"], origin.Requests);

        Assert.Equal(HttpStatusCode.NoContent, (await server.Client.DeleteAsync($"/api/kernels/{id}", ct)).StatusCode);
        Assert.Equal(before, await EgressProbe.NamespaceHandlesAsync(before, ct));

        // Both connections are egress lines in the audit log under the kernel's owner (the key's Jupyter user).
        var lines = await EgressLinesAsync(server, id, 2);
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.EndsWith("/jupyter", l.GetProperty("principal").GetString(), StringComparison.Ordinal));
        Assert.Contains(lines, l => l.GetProperty("host").GetString() == "allowed.test" && l.GetProperty("decision").GetString() == "allowed");
        Assert.Contains(lines, l => l.GetProperty("host").GetString() == "other.test" && l.GetProperty("reason").GetString() == "not_allowed");
    }

    [Fact]
    public async Task PerKernel_NetworkFalse_OverridesTheDefault_NoProxyNoNamespace()
    {
        await using var origin = new EchoOrigin();
        await using var server = await StartAsync(origin, "true");
        int before = EgressProbe.NamespaceHandles();

        var (status, kernel) = await StartKernelAsync(server, """{"name":"python3","network":false}""");
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(before, EgressProbe.NamespaceHandles());

        var output = await RunAsync(server, kernel.GetProperty("id").GetString()!, EgressProbe.NoProxyPython(origin));
        Assert.Contains("proxy None", output, StringComparison.Ordinal);
        Assert.DoesNotContain("direct reached", output, StringComparison.Ordinal);
        Assert.Equal(0, origin.Connections);
    }

    [Fact]
    public async Task PerKernel_AllowOutsideTheCeiling_Is400NamingThePattern()
    {
        await using var origin = new EchoOrigin();
        await using var server = await StartAsync(origin, null);
        int before = EgressProbe.NamespaceHandles();

        var (status, problem) = await StartKernelAsync(server, """{"name":"python3","network":{"allow":["allowed.test","other.test"]}}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("network.allow[1]", problem.GetProperty("parameter").GetString());
        Assert.Equal(before, EgressProbe.NamespaceHandles());
        var (_, list) = (HttpStatusCode.OK, await Json.ReadAsync(await server.Client.GetAsync("/api/kernels", TestContext.Current.CancellationToken)));
        Assert.Equal(0, list.GetArrayLength());
    }

    private static async Task<List<JsonElement>> EgressLinesAsync(WardenTestServer server, string kernelId, int expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        List<JsonElement> lines = [];
        while (DateTime.UtcNow < deadline)
        {
            lines = [.. (await History.HistoryTests.AuditLinesAsync(server.AuditLogPath, 0))
                .Where(l => l.TryGetProperty("event", out var e) && e.GetString() == "egress" && l.GetProperty("run_id").GetString()!.StartsWith(kernelId + "-", StringComparison.Ordinal))];
            if (lines.Count >= expected) break;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        return lines;
    }
}
