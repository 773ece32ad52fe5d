using System.Net.Http.Headers;
using System.Text.Json;
using Warden.Core.Ownership;
using Warden.Core.Workspaces;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// <c>storage_mode: shared</c>: the users of one policy share one home (one image), each in a sandbox of their own with a
/// uid of their own and the policy's group as gid; they read and change each other's files there, and nobody under
/// another policy (shared or not) reaches that home.
/// </summary>
public sealed class SharedHomePolicyTests(SharedTerminalServer shared) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => shared.Server;

    private async Task<string> NewPolicyAsync(string data)
    {
        var id = "shr-" + Guid.NewGuid().ToString("N")[..8];
        using var admin = new HttpClient { BaseAddress = new Uri(Terminal.Server.Address, "/terminal/"), Timeout = TimeSpan.FromSeconds(60) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TerminalTestServer.ApiKey);
        using var response = await admin.PutAsync($"api/v1/policies/{id}", new StringContent(data, System.Text.Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        return id;
    }

    private static async Task<string> RunAsync(HttpClient client, string path, string command)
    {
        using var response = await client.PostAsync(path, Json.Body(new { command }), TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return TerminalClient.Output(JsonDocument.Parse(text).RootElement);
    }

    [Fact]
    public async Task SharedPolicy_UsersSeeAndChangeEachOthersFiles_AnotherPolicysUsersDoNot()
    {
        var team = await NewPolicyAsync("""{"storage_mode":"shared"}""");
        var otherTeam = await NewPolicyAsync("""{"storage_mode":"shared-rwo"}""");
        var solo = await NewPolicyAsync("""{"storage_mode":"per-user"}""");
        using var alice = Terminal.For("alice-" + team);
        using var bob = Terminal.For("bob-" + team);
        using var carol = Terminal.For("carol-" + team);

        var a = await RunAsync(alice.Http, $"p/{team}/execute?wait=30",
            "echo from-alice > ~/notes.txt && mkdir -p ~/proj && echo a > ~/proj/a.txt && echo ok-a; " +
            "find ~ -maxdepth 0 -printf 'home=%m\\n'; find ~/notes.txt -printf 'file=%m\\n'; find ~/proj -maxdepth 0 -printf 'dir=%m\\n'");
        Assert.Contains("ok-a", a, StringComparison.Ordinal);
        var b = await RunAsync(bob.Http, $"p/{team}/execute?wait=30",
            "cat ~/notes.txt; echo bob-edit >> ~/notes.txt && echo from-bob > ~/proj/bob.txt && echo from-bob > ~/bob.txt && echo ok-b");
        Assert.Contains("from-alice", b, StringComparison.Ordinal);
        Assert.Contains("ok-b", b, StringComparison.Ordinal);
        var back = await RunAsync(alice.Http, $"p/{team}/execute?wait=30", "cat ~/notes.txt ~/proj/bob.txt; rm ~/proj/bob.txt && echo removed");
        Assert.True(back.Contains("from-alice\nbob-edit\nfrom-bob\n", StringComparison.Ordinal), back);
        Assert.Contains("removed", back, StringComparison.Ordinal);

        // The home and what is made in it are group-writable (setgid home, umask 002) and nobody else's (no bits for others).
        foreach (var expected in new[] { "home=2770\n", "file=664\n", "dir=2775\n" })
            Assert.True(a.Contains(expected, StringComparison.Ordinal), $"{expected.Trim()}: {a}");

        // On the host (ids inside a sandbox may be mapped): each user keeps a uid of their own, in their own directory; the
        // home is one image under the policy's key, and its id is the files' group, no user's uid.
        var users = Path.Combine(Terminal.StateDirectory, "users");
        var homeDir = Path.Combine(users, UserWorkspaces.SharedHomeKeyOf(team));
        Assert.True(File.Exists(Path.Combine(homeDir, "home.img")), "the shared home is one image, under the policy's key");
        var gid = File.ReadAllText(Path.Combine(homeDir, "uid")).Trim();
        string UidOf(string user) => File.ReadAllText(Path.Combine(users, UserWorkspaces.KeyOf(new Principal(Principal.ServerTenant, user), team), "uid")).Trim();
        var (aliceUid, bobUid) = (UidOf("alice-" + team), UidOf("bob-" + team));
        Assert.Equal(3, new[] { aliceUid, bobUid, gid }.Distinct().Count());
        foreach (var user in new[] { "alice-" + team, "bob-" + team })
            Assert.False(File.Exists(Path.Combine(users, UserWorkspaces.KeyOf(new Principal(Principal.ServerTenant, user), team), "home.img")), user);
        Assert.Equal($"{gid}:{gid}:2770", HostStat(Path.Combine(homeDir, "home")));
        Assert.Equal($"{aliceUid}:{gid}:664", HostStat(Path.Combine(homeDir, "home", "notes.txt")));
        Assert.Equal($"{bobUid}:{gid}:664", HostStat(Path.Combine(homeDir, "home", "bob.txt")));

        // Another shared policy, a per-user one and the plain surface are other homes and another group: nothing of it there.
        foreach (var (client, path) in new[] { (carol, $"p/{otherTeam}/"), (alice, $"p/{otherTeam}/"), (carol, $"p/{solo}/"), (alice, ""), (carol, "") })
        {
            var seen = await RunAsync(client.Http, path + "execute?wait=55",
                "cat ~/notes.txt 2>&1; find / -name notes.txt 2>/dev/null | head");
            Assert.DoesNotContain("from-alice", seen, StringComparison.Ordinal);
            Assert.DoesNotContain("/notes.txt\n", seen, StringComparison.Ordinal);
        }
        // The other shared policy's home has a group of its own: its members' gid opens nothing of this one.
        Assert.NotEqual(gid, File.ReadAllText(Path.Combine(users, UserWorkspaces.SharedHomeKeyOf(otherTeam), "uid")).Trim());
    }

    /// <summary>uid:gid:mode (octal) of a host path, as the kernel has it.</summary>
    private static string HostStat(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u:%g:%a", path]) { RedirectStandardOutput = true })!;
        var text = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return text;
    }
}
