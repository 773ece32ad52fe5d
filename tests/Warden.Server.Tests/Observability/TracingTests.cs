using System.Security.Cryptography;
using System.Text.Json;
using Warden.Server.Tests.Lifecycle;

namespace Warden.Server.Tests.Observability;

/// <summary>
/// A real <c>warden serve</c> with <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> pointing at a loopback OTLP receiver and JSON logs
/// on: an execute that carries a caller's <c>traceparent</c> is traced under the caller's trace, with Warden's stage
/// spans as children of its execute span, and the log lines of that request carry the same trace id.
/// </summary>
public sealed class TracingTests : IDisposable
{
    private readonly string _state = Root();

    /// <summary>Sandboxes run under uids of their own and must pass through the state directory's parent.</summary>
    private static string Root()
    {
        var root = Directory.CreateTempSubdirectory("warden-otel-test-");
        root.UnixFileMode = (UnixFileMode)Convert.ToInt32("755", 8);
        return root.FullName;
    }

    private static async Task<ServeProcess> ServeAsync(string state, OtlpCollector collector) =>
        await ServeProcess.StartAsync(state, new()
        {
            ["WARDEN_BACKEND"] = TestBackend.Name,
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Endpoint.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            // Export each batch after 100 ms, not the default 5 s.
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
            ["WARDEN_LOG_FORMAT"] = "json",
            ["Logging__LogLevel__Default"] = "Information",
            ["Logging__LogLevel__Warden.Core.Execution.ExecutionEngine"] = "Debug",
        });

    private static (string TraceId, string ParentId, string Header) NewTraceParent()
    {
        var traceId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var parentId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        return (traceId, parentId, $"00-{traceId}-{parentId}-01");
    }

    [Fact]
    public async Task Execute_WithTraceparent_SpansJoinTheCallersTraceWithQueueRunAndCollectUnderExecute()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var collector = await OtlpCollector.StartAsync();
        await using var server = await ServeAsync(Path.Combine(_state, "s"), collector);
        var (traceId, parentId, header) = NewTraceParent();

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/execute")
        {
            Content = Json.Body(new { language = "python", code = "open('out.txt','w').write('x')\nprint(1)", collect_files = true }),
        };
        request.Headers.Add("traceparent", header);
        using var response = await server.Client.SendAsync(request, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.Contains("\"status\":\"success\"", body, StringComparison.Ordinal);

        var spans = await collector.WaitForTraceAsync(traceId,
            t => t.Any(s => s.Kind == OtlpSpan.KindServer) && new[] { "warden.execute", "warden.queue", "warden.run", "warden.collect" }
                .All(n => t.Any(s => s.Name == n)), TimeSpan.FromSeconds(30));

        var http = Assert.Single(spans, s => s.Kind == OtlpSpan.KindServer);
        Assert.Equal(parentId, http.ParentSpanId);
        Assert.Equal("Microsoft.AspNetCore", http.Scope);
        var execute = Assert.Single(spans, s => s.Name == "warden.execute");
        Assert.Equal("Warden", execute.Scope);
        Assert.Equal(http.SpanId, execute.ParentSpanId);
        Assert.Equal("python", execute.Attributes["warden.language"]);
        Assert.Equal("success", execute.Attributes["warden.status"]);
        Assert.Equal(TestBackend.Name, execute.Attributes["warden.backend"]);
        Assert.Contains(execute.Attributes["warden.execution_id"], body, StringComparison.Ordinal);
        foreach (var stage in new[] { "warden.queue", "warden.run", "warden.collect" })
            Assert.Equal(execute.SpanId, Assert.Single(spans, s => s.Name == stage).ParentSpanId);
        Assert.Equal("success", spans.Single(s => s.Name == "warden.run").Attributes["warden.status"]);
        Assert.DoesNotContain(spans, s => s.Name == "warden.compile");

        // The log lines of that request: every line the server wrote is one JSON object, and the execution's carries the trace.
        var lines = server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.NotEmpty(lines);
        var logs = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var finished = Assert.Single(logs, l => l.GetProperty("event_id").GetInt32() == 1101);
        Assert.Equal(traceId, finished.GetProperty("trace_id").GetString());
        Assert.Equal(execute.SpanId, finished.GetProperty("span_id").GetString());
        Assert.Equal("Debug", finished.GetProperty("level").GetString());
        Assert.Equal("Warden.Core.Execution.ExecutionEngine", finished.GetProperty("category").GetString());
        Assert.Equal("python", finished.GetProperty("attributes").GetProperty("Language").GetString());
    }

    [Fact]
    public async Task Execute_CompiledLanguage_HasACompileSpanBeforeItsRun()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var collector = await OtlpCollector.StartAsync();
        await using var server = await ServeAsync(Path.Combine(_state, "c"), collector);
        var (traceId, _, header) = NewTraceParent();

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/execute")
        {
            Content = Json.Body(new { language = "c", code = "#include <stdio.h>\nint main(){puts(\"hi\");}" }),
        };
        request.Headers.Add("traceparent", header);
        using var response = await server.Client.SendAsync(request, ct);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(ct));

        var spans = await collector.WaitForTraceAsync(traceId, t => t.Any(s => s.Name == "warden.execute"), TimeSpan.FromSeconds(30));
        var execute = spans.Single(s => s.Name == "warden.execute");
        var compile = Assert.Single(spans, s => s.Name == "warden.compile");
        Assert.Equal(execute.SpanId, compile.ParentSpanId);
        Assert.Equal("success", compile.Attributes["warden.status"]);
        Assert.Equal(execute.SpanId, Assert.Single(spans, s => s.Name == "warden.run").ParentSpanId);
    }

    [Fact]
    public async Task Probes_AreNotTraced()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var collector = await OtlpCollector.StartAsync();
        await using var server = await ServeAsync(Path.Combine(_state, "p"), collector);
        var (probeTrace, _, probeHeader) = NewTraceParent();
        using (var probe = new HttpRequestMessage(HttpMethod.Get, "/readyz"))
        {
            probe.Headers.Add("traceparent", probeHeader);
            (await server.Client.SendAsync(probe, ct)).EnsureSuccessStatusCode();
        }
        // A traced request after it: once its span arrived, the probe's would have too.
        var (traceId, _, header) = NewTraceParent();
        using (var runtimes = new HttpRequestMessage(HttpMethod.Get, "/api/v1/runtimes"))
        {
            runtimes.Headers.Add("traceparent", header);
            (await server.Client.SendAsync(runtimes, ct)).EnsureSuccessStatusCode();
        }
        await collector.WaitForTraceAsync(traceId, t => t.Count > 0, TimeSpan.FromSeconds(30));
        Assert.DoesNotContain(collector.Spans, s => s.TraceId == probeTrace);
    }

    public void Dispose()
    {
        try { Directory.Delete(_state, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
