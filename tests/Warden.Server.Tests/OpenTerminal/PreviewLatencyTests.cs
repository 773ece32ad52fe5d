using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// Bench: one preview request (a small page from python -m http.server in the user's sandbox) through
/// <c>/proxy/{port}/…</c>, against the same request made inside the sandbox's own network namespace (a new connection
/// each time, as the relay makes). Numbers go to the test output; the test fails only if a request fails or the relay
/// is pathologically slow.
/// </summary>
public sealed class PreviewLatencyTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    private const int Requests = 200;

    [Fact]
    public async Task PreviewRequest_ThroughProxy_vs_DirectInsideTheSandbox_P50P95()
    {
        var ct = TestContext.Current.CancellationToken;
        using var user = fixture.Server.For("preview-bench");
        int port = PreviewServers.Port();
        await user.RunAsync("mkdir -p ~/bench && head -c 2048 /dev/zero | tr '\\0' a > ~/bench/index.html");
        await PreviewServers.StartHttpAsync(user, "~/bench", port);

        var direct = await user.RunAsync(
            "python3 -c 'import http.client,time,sys\n" +
            "p=int(sys.argv[1]); t=[]\n" +
            "for i in range(" + (Requests + 10).ToString(CultureInfo.InvariantCulture) + "):\n" +
            " s=time.perf_counter(); c=http.client.HTTPConnection(\"127.0.0.1\",p); c.request(\"GET\",\"/index.html\"); r=c.getresponse(); b=r.read(); c.close()\n" +
            " assert r.status==200 and len(b)==2048\n" +
            " t.append((time.perf_counter()-s)*1000)\n" +
            "t=sorted(t[10:]); print(\"%.3f %.3f\" % (t[len(t)//2], t[int(len(t)*0.95)]))' " + port.ToString(CultureInfo.InvariantCulture), wait: 120);
        var directNumbers = TerminalClient.Stdout(direct).Trim().Split(' ').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(2, directNumbers.Length);

        var times = new List<double>();
        for (int i = 0; i < Requests + 10; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await user.Http.GetAsync($"proxy/{port}/index.html", ct);
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(2048, body.Length);
            if (i >= 10) times.Add(elapsed);
        }
        times.Sort();
        double p50 = times[times.Count / 2], p95 = times[(int)(times.Count * 0.95)];
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"backend {TestBackend.Name}: {Requests} preview GETs of 2 KiB, p50/p95 ms: through /proxy {p50:0.00}/{p95:0.00}; " +
            $"direct in the sandbox {directNumbers[0]:0.00}/{directNumbers[1]:0.00}");
        Console.WriteLine($"PREVIEW-BENCH backend={TestBackend.Name} proxy_p50={p50:0.00} proxy_p95={p95:0.00} direct_p50={directNumbers[0]:0.00} direct_p95={directNumbers[1]:0.00}");
        Assert.True(p95 < 2000, $"p95 through the proxy is {p95:0} ms");
    }
}
