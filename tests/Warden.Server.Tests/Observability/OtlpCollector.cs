using System.Collections.Concurrent;
using System.IO.Compression;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Warden.Server.Tests.Observability;

/// <summary>
/// A minimal OTLP/HTTP trace receiver on loopback (no collector is installable here): <c>POST /v1/traces</c> with an
/// <c>application/x-protobuf</c> <c>ExportTraceServiceRequest</c>, answered with an empty (= fully accepted) response.
/// </summary>
internal sealed class OtlpCollector : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<OtlpSpan> _spans = new();
    private readonly ConcurrentQueue<string> _errors = new();

    private OtlpCollector(WebApplication app) => _app = app;

    public Uri Endpoint { get; private set; } = null!;

    public IReadOnlyList<OtlpSpan> Spans => [.. _spans];

    public static async Task<OtlpCollector> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var collector = new OtlpCollector(builder.Build());
        collector._app.MapPost("/v1/traces", collector.ReceiveAsync);
        await collector._app.StartAsync();
        var address = collector._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        collector.Endpoint = new Uri(address);
        return collector;
    }

    private async Task<IResult> ReceiveAsync(HttpRequest request)
    {
        if (request.ContentType != "application/x-protobuf")
        {
            _errors.Enqueue($"content type {request.ContentType}");
            return Results.StatusCode(415);
        }
        Stream body = request.Headers.ContentEncoding == "gzip" ? new GZipStream(request.Body, CompressionMode.Decompress) : request.Body;
        using var buffer = new MemoryStream();
        await body.CopyToAsync(buffer);
        foreach (var span in OtlpProtobuf.DecodeTraces(buffer.ToArray())) _spans.Enqueue(span);
        return Results.Bytes([], "application/x-protobuf");
    }

    /// <summary>Waits until spans of <paramref name="traceId"/> satisfy <paramref name="done"/> (the exporter sends in batches).</summary>
    public async Task<List<OtlpSpan>> WaitForTraceAsync(string traceId, Func<List<OtlpSpan>, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var trace = Spans.Where(s => s.TraceId == traceId).ToList();
            if (done(trace)) return trace;
            Assert.Empty(_errors);
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Spans of trace {traceId} so far: {string.Join(", ", trace.Select(s => s.Name))}; all: {Spans.Count}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
