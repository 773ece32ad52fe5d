using System.Globalization;
using System.Net.Http.Headers;
using Warden.Server.Tests.Lifecycle;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>A real <c>warden serve</c> killed with SIGKILL while a user's home is mounted: the next start cleans up.</summary>
public sealed class HomeRecoveryTests : IDisposable
{
    private const string Key = "home-recovery-key-0123456789";
    private readonly string _state = StateDirectory();

    /// <summary>Sandbox uids must be able to reach their homes under it: 0755, not the temp default 0700.</summary>
    private static string StateDirectory()
    {
        var dir = Directory.CreateTempSubdirectory("warden-homes-");
        dir.UnixFileMode = (UnixFileMode)Convert.ToInt32("755", 8);
        return dir.FullName;
    }

    [Fact]
    public async Task Kill9_LeavesTheHomeMounted_TheNextStartUnmountsAndFreesIt_AndTheFilesSurvive()
    {
        var environment = new Dictionary<string, string>
        {
            ["WARDEN_API_KEY"] = Key, ["WARDEN_MAX_MEGABYTES_PER_USER"] = "16",
            ["WARDEN_USER_UID_BASE"] = TerminalTestServer.NewUidBase().ToString(CultureInfo.InvariantCulture),
        };
        await using (var crashed = await ServeProcess.StartAsync(_state, environment))
        {
            using var user = Client(crashed);
            Assert.Equal(200, (await user.PostAsync("files/write", new { path = "survivor.txt", content = "still here" })).Status);
            await user.RunAsync("sync");
            Assert.NotEmpty(HomeFilesystems.MountsUnder(Path.Combine(_state, "users")));

            crashed.Signal(9);
            await crashed.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        // A crash does leave the home mounted, and so its loop device bound: the next start must find them.
        Assert.NotEmpty(HomeFilesystems.MountsUnder(Path.Combine(_state, "users")));
        Assert.NotEmpty(HomeFilesystems.LoopDevicesUnder(_state));

        await using (var next = await ServeProcess.StartAsync(_state, environment))
        {
            Assert.Empty(HomeFilesystems.MountsUnder(Path.Combine(_state, "users")));
            Assert.Empty(await HomeFilesystems.LoopDevicesAfterUnbindAsync(_state));
            using var user = Client(next);
            Assert.Equal("still here", (await user.GetAsync("files/read?path=survivor.txt")).Body.GetProperty("content").GetString());
        }
        await HomeQuotaTests.AssertNothingLeftAsync(_state);
    }

    private static TerminalClient Client(ServeProcess server)
    {
        var http = new HttpClient { BaseAddress = new Uri(server.Address, "/terminal/"), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        http.DefaultRequestHeaders.Add("X-User-Id", "crash-survivor");
        return new TerminalClient(http);
    }

    public void Dispose()
    {
        if (HomeFilesystems.MountsUnder(_state).Count > 0) return; // never delete through a mount
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { }
    }
}
