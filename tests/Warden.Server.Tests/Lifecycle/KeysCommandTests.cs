using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Warden.Server.Tests.Lifecycle;

/// <summary><c>warden keys</c> works on the same store as a running <c>warden serve</c>.</summary>
public sealed class KeysCommandTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("warden-keys-").FullName;

    [Fact]
    public async Task KeysCli_CreateListRevoke_SeenByRunningServer()
    {
        var (code, output) = await WardenAsync("keys", "create", "--name", "cli-test", "--scope", "execute", "--json");
        Assert.Equal(0, code);
        var created = JsonDocument.Parse(output).RootElement;
        var key = created.GetProperty("key").GetString()!;
        var id = created.GetProperty("id").GetString()!;

        var serveState = Path.Combine(_state, "serve");
        Directory.CreateDirectory(serveState);
        File.SetUnixFileMode(_state, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(serveState, (UnixFileMode)0b111_101_101);
        await using var server = await ServeProcess.StartAsync(serveState, new() { ["WARDEN_DATABASE_URL"] = "sqlite:" + Path.Combine(_state, "warden.db") });
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client.GetAsync("/api/v1/runtimes", ct)).StatusCode);
        server.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/api/v1/runtimes", ct)).StatusCode);

        (code, output) = await WardenAsync("keys", "list");
        Assert.Equal(0, code);
        Assert.Contains(id, output);
        Assert.Contains("active", output);
        Assert.DoesNotContain(key, output);

        (code, _) = await WardenAsync("keys", "revoke", id);
        Assert.Equal(0, code);
        // A running server sees a revocation from another process within the key cache's lifetime (5 s).
        var watch = Stopwatch.StartNew();
        while ((await server.Client.GetAsync("/api/v1/runtimes", ct)).StatusCode != HttpStatusCode.Unauthorized)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "revocation not seen within 10 s");
            await Task.Delay(200, ct);
        }
        (code, _) = await WardenAsync("keys", "revoke", id);
        Assert.Equal(1, code);
        (code, output) = await WardenAsync("keys", "create", "--name", "x", "--scope", "root");
        Assert.Equal(2, code);
        Assert.Contains("root", output);
    }

    private async Task<(int Code, string Output)> WardenAsync(params string[] args)
    {
        var start = new ProcessStartInfo(ServeProcess.Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["WARDEN_STATE_DIR"] = _state;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await stdout + await stderr);
    }

    public void Dispose()
    {
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { }
    }
}
