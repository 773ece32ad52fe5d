using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Warden.Server.Hosting;

namespace Warden.Server.Cluster;

/// <summary>
/// Cluster-wide lists (GET /api/kernels, GET /api/v1/sessions): the local endpoint answers as usual while the same
/// request, with the caller's credentials and marked as forwarded (so it is answered locally there), goes to every other
/// live replica; the JSON arrays are concatenated. A replica that does not answer within the list timeout is left out
/// and named in <c>X-Warden-Incomplete</c>: a list that hides a failure would be worse than a partial one.
/// </summary>
internal sealed class ClusterListMerger(ClusterTransport transport, ClusterMembership membership, Microsoft.Extensions.Options.IOptions<ClusterOptions> options)
{
    public async Task MergeAsync(HttpContext context, RequestDelegate next)
    {
        var peers = membership.LivePeers();
        if (peers.Count == 0)
        {
            await next(context);
            return;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.ListTimeoutSeconds));
        var remote = peers.Select(peer => FetchAsync(context, peer, timeout.Token)).ToList();
        // This replica's own part is taken once the others have answered, right before the merged list goes out: the
        // freshest view of the kernels created here meanwhile (a list must not be older than a creation it answers after).
        var answers = await Task.WhenAll(remote);
        var original = context.Response.Body;
        using var local = new MemoryStream();
        context.Response.Body = local;
        try { await next(context); }
        finally { context.Response.Body = original; }
        local.Position = 0;
        var merged = context.Response.StatusCode == StatusCodes.Status200OK ? ParseArray(local) : null;
        if (merged is null)
        {
            local.Position = 0;
            await local.CopyToAsync(original, context.RequestAborted);
            return;
        }
        var missing = new List<string>();
        foreach (var (peer, items) in peers.Zip(answers))
        {
            if (items is null) missing.Add(peer.Id);
            else foreach (var item in items) merged.Add(item?.DeepClone());
        }
        if (missing.Count > 0) context.Response.Headers[ClusterTransport.IncompleteHeader] = string.Join(",", missing);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(merged, Relaxed.Info<JsonArray>());
        context.Response.ContentLength = bytes.Length;
        await original.WriteAsync(bytes, context.RequestAborted);
    }

    // As the endpoints themselves write JSON (no \u002B for '+').
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, TypeInfoResolver = ClusterListJson.Default };

    private static JsonArray? ParseArray(Stream json)
    {
        try { return JsonNode.Parse(json) as JsonArray; }
        catch (JsonException) { return null; }
    }

    private async Task<JsonArray?> FetchAsync(HttpContext context, ReplicaRow peer, CancellationToken cancellationToken)
    {
        try
        {
            using var request = transport.CreateRequest(context, peer, withBody: false);
            using var response = await transport.Invoker.SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode) return null;
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            return await JsonNode.ParseAsync(body, cancellationToken: cancellationToken) as JsonArray;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException or JsonException)
        {
            return null;
        }
    }
}
