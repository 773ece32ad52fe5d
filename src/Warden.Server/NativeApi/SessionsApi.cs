using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Warden.Core.Execution;
using Warden.Core.Sessions;
using Warden.Server.Cluster;
using Warden.Server.Hosting;

namespace Warden.Server.NativeApi;

/// <summary>Stateful sessions under <c>/api/v1/sessions</c>: wire format ↔ <see cref="SessionManager"/>.</summary>
public static class SessionsApi
{
    public static IEndpointRouteBuilder MapSessionsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/sessions").WithTags("sessions");
        api.MapPost("", CreateAsync).WithName("create_session").WithSummary("Start a stateful kernel (python, bash, javascript)")
            .Accepts<CreateSessionRequest>("application/json").ProducesProblem(400).ProducesProblem(429).ProducesProblem(503)
            .WithMetadata(RateLimiting.ExecutionEndpoint.Instance);
        api.MapGet("", List).WithName("list_sessions").WithSummary("Sessions alive on this server (on every replica, in cluster mode)")
            .WithMetadata(ClusterWideList.Instance);
        // In cluster mode, requests for one session are served by the replica that holds it.
        var one = api.MapGroup("").WithMetadata(OwnedResource.Session("Session"));
        one.MapGet("/{id}", Get).WithName("get_session").WithSummary("One session's state").ProducesProblem(404);
        one.MapDelete("/{id}", DeleteAsync).WithName("delete_session").WithSummary("Destroy a session and its sandbox").ProducesProblem(404);
        one.MapPost("/{id}/execute", ExecuteAsync).WithName("execute_in_session").WithSummary("Run one cell; state persists between cells")
            .Accepts<SessionExecuteRequest>("application/json").ProducesProblem(400).ProducesProblem(404).ProducesProblem(429)
            .WithMetadata(RateLimiting.ExecutionEndpoint.Instance);
        one.MapPost("/{id}/interrupt", InterruptAsync).WithName("interrupt_session").WithSummary("Interrupt the running cell").ProducesProblem(404);
        one.MapPost("/{id}/restart", RestartAsync).WithName("restart_session").WithSummary("Fresh kernel, same session").ProducesProblem(404);
        return app;
    }

    private static async Task<Created<SessionDto>> CreateAsync(HttpRequest request, SessionManager sessions, CancellationToken cancellationToken)
    {
        var body = request.ContentLength is 0 ? new CreateSessionRequest()
            : await RequestBody.ReadJsonAsync<CreateSessionRequest>(request, NativeJson.Options, cancellationToken);
        var session = await sessions.CreateAsync(body.ToCore(), cancellationToken);
        return TypedResults.Created($"/api/v1/sessions/{session.Id}", SessionDto.From(session));
    }

    private static Ok<List<SessionDto>> List(SessionManager sessions, string? user) =>
        TypedResults.Ok(sessions.List(user).Select(SessionDto.From).ToList());

    private static Ok<SessionDto> Get(string id, SessionManager sessions) => TypedResults.Ok(SessionDto.From(sessions.Get(id)));

    private static async Task<NoContent> DeleteAsync(string id, SessionManager sessions, CancellationToken cancellationToken)
    {
        await sessions.DeleteAsync(id, cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<SessionExecuteResponse>> ExecuteAsync(string id, HttpRequest request, SessionManager sessions,
        CancellationToken cancellationToken)
    {
        var session = sessions.Get(id);
        var body = await RequestBody.ReadJsonAsync<SessionExecuteRequest>(request, NativeJson.Options, cancellationToken);
        if (string.IsNullOrEmpty(body.Code)) throw new InvalidRequestException("code is empty.", "code");
        var result = await session.ExecuteAsync(new CellRequest(body.Code, body.Timeout), onOutput: null, cancellationToken);
        return TypedResults.Ok(SessionExecuteResponse.From(result));
    }

    private static async Task<NoContent> InterruptAsync(string id, SessionManager sessions, CancellationToken cancellationToken)
    {
        await sessions.Get(id).InterruptAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<SessionDto>> RestartAsync(string id, SessionManager sessions, CancellationToken cancellationToken)
    {
        var session = sessions.Get(id);
        await session.RestartAsync(cancellationToken);
        return TypedResults.Ok(SessionDto.From(session));
    }
}
