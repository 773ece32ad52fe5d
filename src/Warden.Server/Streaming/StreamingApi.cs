using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Warden.Core.Execution;
using Warden.Server.Hosting;
using Warden.Server.NativeApi;
using Warden.Server.RateLimiting;

namespace Warden.Server.Streaming;

/// <summary>
/// Output as it happens. <c>POST /api/v1/execute/stream</c>: server-sent events <c>stdout</c>/<c>stderr</c>
/// (<c>{"stage":"run","data":"…"}</c>) while the program runs, then one <c>result</c> event (the same object as
/// <c>/api/v1/execute</c>). A request refused before any output gets the usual problem response instead; a failure after
/// output started ends the stream with an <c>error</c> event. The WebSocket variant is in <see cref="ExecuteSocket"/>.
/// </summary>
public static class StreamingApi
{
    public static IEndpointRouteBuilder MapStreamingApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/execute").WithTags("native").WithMetadata(ExecutionEndpoint.Instance);
        api.MapPost("/stream", StreamAsync).WithName("execute_stream").WithSummary("Run code once; output as server-sent events, then the result")
            .Accepts<ExecuteRequest>("application/json").Produces(200, contentType: "text/event-stream")
            .ProducesProblem(400).ProducesProblem(413).ProducesProblem(415).ProducesProblem(429).ProducesProblem(503);
        api.Map("/ws", ExecuteSocket.RunAsync).WithName("execute_websocket")
            .WithSummary("Run code once over a WebSocket: first message the request, then stdin messages; output and result come back");
        return app;
    }

    private static async Task StreamAsync(HttpContext context, ExecutionRunner runner, CancellationToken cancellationToken)
    {
        var body = await RequestBody.ReadJsonAsync<ExecuteRequest>(context.Request, NativeJson.Options, cancellationToken);
        var events = Channel.CreateUnbounded<StreamEvent>(new UnboundedChannelOptions { SingleReader = true });
        var decoder = new OutputDecoder();
        var request = body.ToCore() with { Output = chunk => events.Writer.TryWrite(decoder.Decode(chunk)) };
        var started = false;

        async Task WriteAsync(string name, string json)
        {
            if (!started)
            {
                started = true;
                context.Response.ContentType = "text/event-stream";
                context.Response.Headers.CacheControl = "no-cache";
                context.Response.Headers["X-Accel-Buffering"] = "no";
                context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            }
            await context.Response.WriteAsync($"event: {name}\ndata: {json}\n\n", cancellationToken);
            await context.Response.Body.FlushAsync(cancellationToken);
        }

        async Task PumpAsync()
        {
            await foreach (var e in events.Reader.ReadAllAsync(cancellationToken))
            {
                if (e.Data.Length > 0) await WriteAsync(e.Type, JsonSerializer.Serialize(new StreamChunk(e.Stage, e.Data), NativeJson.Options.Info<StreamChunk>()));
            }
        }

        var pump = PumpAsync();
        ExecutionResult result;
        try
        {
            result = await runner.RunAsync(context, request, "stream", cancellationToken);
        }
        catch (Exception e) when (e is WardenException && !cancellationToken.IsCancellationRequested)
        {
            events.Writer.TryComplete();
            await pump;
            if (!started) throw;
            var (status, kind, title) = WardenExceptionHandler.Classify(e);
            await WriteAsync("error", JsonSerializer.Serialize(new ProblemDetails
            {
                Status = status, Type = WardenExceptionHandler.TypeBase + kind, Title = title, Detail = e.Message,
            }, NativeJson.Options.Info<ProblemDetails>()));
            return;
        }
        foreach (var rest in decoder.Flush()) events.Writer.TryWrite(rest);
        events.Writer.TryComplete();
        await pump;
        await WriteAsync("result", JsonSerializer.Serialize(ExecuteResponse.From(result, collected: body.CollectFiles == true), NativeJson.Options.Info<ExecuteResponse>()));
    }
}
