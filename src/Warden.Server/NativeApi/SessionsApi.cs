using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Warden.Core.Execution;
using Warden.Core.Sessions;
using Warden.Server.Auth;
using Warden.Server.Cluster;
using Warden.Server.Hosting;

namespace Warden.Server.NativeApi;

/// <summary>
/// Stateful sessions under <c>/api/v1/sessions</c>: wire format ↔ <see cref="SessionManager"/>. Every handler acts as
/// the caller's <see cref="Caller.Requester"/>: another principal's session answers 404, like one that does not exist.
/// </summary>
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

    private static async Task<Created<SessionDto>> CreateAsync(HttpContext context, SessionManager sessions, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var body = request.ContentLength is 0 ? new CreateSessionRequest()
            : await RequestBody.ReadJsonAsync<CreateSessionRequest>(request, NativeJson.Options, cancellationToken);
        // The body's user is only a name inside the caller's key: it can neither reach another key's sessions nor escape the key's cap.
        var owner = Caller.Of(context).Requester(body.User).Principal;
        var session = await sessions.CreateAsync(body.ToCore(owner), cancellationToken);
        return TypedResults.Created($"/api/v1/sessions/{session.Id}", SessionDto.From(session));
    }

    private static Ok<List<SessionDto>> List(HttpContext context, SessionManager sessions, string? user) =>
        TypedResults.Ok(sessions.List(Caller.Of(context).Requester()).Where(s => user is null || s.Owner.User == user).Select(SessionDto.From).ToList());

    private static Ok<SessionDto> Get(string id, HttpContext context, SessionManager sessions) =>
        TypedResults.Ok(SessionDto.From(sessions.Get(id, Caller.Of(context).Requester())));

    private static async Task<NoContent> DeleteAsync(string id, HttpContext context, SessionManager sessions, CancellationToken cancellationToken)
    {
        await sessions.DeleteAsync(id, Caller.Of(context).Requester(), cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<SessionExecuteResponse>> ExecuteAsync(string id, HttpContext context, SessionManager sessions,
        CancellationToken cancellationToken)
    {
        var session = sessions.Get(id, Caller.Of(context).Requester());
        var body = await RequestBody.ReadJsonAsync<SessionExecuteRequest>(context.Request, NativeJson.Options, cancellationToken);
        if (string.IsNullOrEmpty(body.Code)) throw new InvalidRequestException("code is empty.", "code");
        var result = await session.ExecuteAsync(new CellRequest(body.Code, body.Timeout), onOutput: null, cancellationToken);
        return TypedResults.Ok(SessionExecuteResponse.From(result));
    }

    private static async Task<NoContent> InterruptAsync(string id, HttpContext context, SessionManager sessions, CancellationToken cancellationToken)
    {
        await sessions.Get(id, Caller.Of(context).Requester()).InterruptAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<SessionDto>> RestartAsync(string id, HttpContext context, SessionManager sessions, CancellationToken cancellationToken)
    {
        var session = sessions.Get(id, Caller.Of(context).Requester());
        await session.RestartAsync(cancellationToken);
        return TypedResults.Ok(SessionDto.From(session));
    }
}
