using Microsoft.AspNetCore.Http;
using ModelContextProtocol.Server;
using Warden.Core.Execution;
using Warden.Core.Ownership;
using Warden.Server.Auth;
using Warden.Server.NativeApi;

namespace Warden.Server.McpApi;

/// <summary>
/// Who calls a tool, and the path a stateless run takes: the HTTP request's caller on <c>/mcp</c>
/// (<see cref="HttpMcpCaller"/>), the local user of <c>warden mcp</c> on stdio (<see cref="LocalMcpCaller"/>).
/// </summary>
internal interface IMcpCaller
{
    /// <summary>The principal the call acts as, and what it may reach.</summary>
    Requester Requester();

    /// <summary>The client's own name for this conversation (<c>X-Session-Id</c>), or null.</summary>
    string? Conversation();

    Task<ExecutionResult> RunAsync(ExecutionRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Admits one code-running call through the caller's rate limits and concurrency cap: a lease to hold while it runs
    /// (null when nothing limits it).
    /// </summary>
    /// <exception cref="RateLimiting.RateLimitedException">Refused.</exception>
    ValueTask<IDisposable?> AdmitAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The caller of the HTTP request that carries this tool call (tools run on that request's execution context): its
/// principal is <see cref="Caller.Requester"/>, its runs go through <see cref="ExecutionRunner"/> (history, audit).
/// </summary>
internal sealed class HttpMcpCaller(IHttpContextAccessor http, ExecutionRunner runner) : IMcpCaller
{
    public const string Transport = "mcp";
    public const string ConversationHeader = "X-Session-Id";

    private HttpContext Context => http.HttpContext ?? throw new InvalidOperationException("This tool runs only inside an MCP HTTP request.");

    public Requester Requester() => Caller.Of(Context).Requester();

    public string? Conversation()
    {
        var header = Context.Request.Headers[ConversationHeader].ToString();
        return header.Length is > 0 and <= 256 ? header : null;
    }

    public Task<ExecutionResult> RunAsync(ExecutionRequest request, CancellationToken cancellationToken) =>
        runner.RunAsync(Context, request, Transport, cancellationToken);

    public async ValueTask<IDisposable?> AdmitAsync(CancellationToken cancellationToken) =>
        await RateLimiting.WardenRateLimits.AdmitAsync(Context, cancellationToken);
}

/// <summary>The one local user of <c>warden mcp</c>: the client that started the process owns everything it makes.</summary>
internal sealed class LocalMcpCaller(Principal owner, ExecutionEngine engine) : IMcpCaller
{
    public Requester Requester() => new(owner);

    public string? Conversation() => null;

    public Task<ExecutionResult> RunAsync(ExecutionRequest request, CancellationToken cancellationToken) => engine.ExecuteAsync(request, cancellationToken);

    /// <summary>One local client: nothing to share fairly.</summary>
    public ValueTask<IDisposable?> AdmitAsync(CancellationToken cancellationToken) => ValueTask.FromResult<IDisposable?>(null);
}

internal static class McpConversation
{
    /// <summary>The kernel's conversation: the client's chat, else the MCP session, else one per principal.</summary>
    public static string Of(IMcpCaller caller, McpServer server) =>
        caller.Conversation() is { } chat ? "chat:" + chat : server.SessionId is { Length: > 0 } id ? "mcp:" + id : "principal";
}
