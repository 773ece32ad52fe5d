using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Warden.Server.Hosting;

namespace Warden.Server.Cluster;

/// <summary>The problems (RFC 7807) routing can answer; each names the replica concerned and what became of the state.</summary>
internal static class ClusterProblems
{
    /// <summary>410: the replica that held it stopped or died; what it held is lost for good.</summary>
    public static Task GoneAsync(HttpContext context, string what, string replicaId, string reason, bool terminal) =>
        WriteAsync(context, StatusCodes.Status410Gone, "owner-gone", "Owning replica gone",
            terminal
                ? $"{what} was on replica {replicaId}, which {reason}: its running commands are lost, and files there are not reachable from " +
                  "the other replicas. Retry to get a new sandbox."
                : $"{what} lived on replica {replicaId}, which {reason}: its state is lost. Start a new one.",
            replicaId, retryAfterSeconds: null);

    /// <summary>503: the replica that holds it could not be reached, or failed while answering.</summary>
    public static Task UnreachableAsync(HttpContext context, string what, ReplicaRow owner, string failure, TimeSpan deadAfter) =>
        WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "owner-unreachable", "Owning replica unreachable",
            $"{what} lives on replica {owner.Id} ({owner.AdvertiseUrl}), which {failure}. If that replica is gone, so is this state; " +
            $"replicas declare a silent one dead after {deadAfter.TotalSeconds:0} s and then answer 410.",
            owner.Id, retryAfterSeconds: Math.Max(1, (int)Math.Ceiling(deadAfter.TotalSeconds / 4)));

    /// <summary>421: a request forwarded for another replica (or another process of this one) reached this one: an address is stale.</summary>
    public static Task MisdirectedAsync(HttpContext context, string intended, string self) =>
        WriteAsync(context, StatusCodes.Status421MisdirectedRequest, "misdirected", "Misdirected request",
            $"This request was forwarded for replica {intended}, but this is {self}: the directory's address for it is out of date. Retry.",
            self, retryAfterSeconds: 1);

    /// <summary>503: the shared database, which says where things are, did not answer.</summary>
    public static Task DirectoryUnavailableAsync(HttpContext context, string what) =>
        WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "directory-unavailable", "Cluster directory unavailable",
            $"Could not look up which replica holds {what}: the shared database did not answer. Retry shortly.", null, retryAfterSeconds: 5);

    /// <summary>The owner answered the WebSocket handshake with an HTTP status (403, 404…) instead of switching protocols.</summary>
    public static Task RefusedAsync(HttpContext context, int status, string what, string replicaId) =>
        WriteAsync(context, status, status == 404 ? "session-not-found" : "owner-refused", ReasonPhrases.GetReasonPhrase(status),
            $"Replica {replicaId}, which holds {what}, answered {status} ({ReasonPhrases.GetReasonPhrase(status)}) to the WebSocket handshake.",
            replicaId, retryAfterSeconds: null);

    private static Task WriteAsync(HttpContext context, int status, string kind, string title, string detail, string? replicaId, int? retryAfterSeconds)
    {
        context.Response.StatusCode = status;
        if (retryAfterSeconds is { } seconds) context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var problem = new ProblemDetails
        {
            Status = status, Type = WardenExceptionHandler.TypeBase + kind, Title = title, Detail = detail, Instance = context.Request.Path,
        };
        if (replicaId is not null) problem.Extensions["replica"] = replicaId;
        return context.RequestServices.GetRequiredService<IProblemDetailsService>()
            .WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem }).AsTask();
    }
}
