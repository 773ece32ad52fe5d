using System.Net;
using Warden.Server.Auth;

namespace Warden.Server.Tests.Security;

/// <summary>
/// Every principal that ever opens a terminal gets a home and a host uid for good, from one server-wide range
/// (Terminal:UserUidBase..+UserUidCount). No key bounds how many it creates over time (MaxUsersPerKey bounds only live
/// sandboxes; reaped ones free their slot for the next name), so one tenant can use up the range for every tenant. At
/// the least, the tenants refused then must get a clear refusal, not a 500.
/// </summary>
public sealed class TerminalUidExhaustionTests
{
    [Fact]
    public async Task UidRange_UsedUpByOneTenant_RefusesTheNextTenantClearly_NotWithA500()
    {
        await using var terminal = await OpenTerminal.TerminalTestServer.StartAsync(new() { ["Warden:Terminal:UserUidCount"] = "2" });
        var ct = TestContext.Current.CancellationToken;
        var store = (ApiKeyStore)terminal.Server.Services.GetService(typeof(ApiKeyStore))!;
        var greedy = (await store.CreateAsync("uid-greedy", [ApiKeyScopes.Execute], ct)).Key;
        var neighbour = (await store.CreateAsync("uid-neighbour", [ApiKeyScopes.Execute], ct)).Key;

        // Two names are enough here; with the default range (100000) it takes more requests, not more rights.
        foreach (var name in new[] { "name-1", "name-2" })
        {
            using var taker = terminal.For(name, bearer: greedy);
            Assert.Equal(200, (await taker.GetAsync("files/cwd")).Status);
        }

        using var victim = terminal.For("alice", bearer: neighbour);
        var response = await victim.Http.GetAsync("files/cwd", ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.StatusCode != HttpStatusCode.InternalServerError,
            $"Another tenant's first terminal, after one tenant used up the uid range, answered 500: {text}");
        if (!response.IsSuccessStatusCode) Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
