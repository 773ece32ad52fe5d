using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Core.Terminals;

/// <summary>
/// What Open WebUI's interface streams from a user's sandbox: archives of their files, and connections to a server
/// they run (previews). Both go through the agent inside that sandbox, which is why they work on every backend
/// (gVisor's network stack lives inside its Sentry, out of the host's reach) and why the sandbox needs no network.
/// </summary>
public sealed partial class UserTerminal
{
    /// <summary>TCP listeners of this user's sandbox (open-terminal's <c>/ports</c> shape).</summary>
    public Task<JsonElement> PortsAsync(CancellationToken cancellationToken) => CallAsync(null, "ports", [], cancellationToken);

    /// <summary>
    /// A ZIP of the given paths (relative ones against the home), streamed: every path is checked before the first byte,
    /// links inside directories are left out, and the stream is cut (the reply fails) once <paramref name="maxBytes"/>
    /// are read or written.
    /// </summary>
    public async Task<Stream> ArchiveAsync(IReadOnlyList<string> paths, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var list = new JsonArray();
        foreach (var path in paths) list.Add((JsonNode?)JsonValue.Create(path));
        var stream = new AgentArchiveStream(await StartStreamAsync("archive",
            new JsonObject { ["paths"] = list, ["max_archive_bytes"] = maxBytes }, cancellationToken).ConfigureAwait(false));
        try
        {
            await stream.StartAsync(cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A byte stream to <c>localhost:{port}</c> inside this user's sandbox (its loopback, IPv4 then IPv6).</summary>
    public async Task<Stream> ConnectAsync(int port, TimeSpan connectTimeout, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        var stream = await StartStreamAsync("connect",
            new JsonObject { ["port"] = port, ["connect_timeout"] = connectTimeout.TotalSeconds }, cancellationToken).ConfigureAwait(false);
        try
        {
            var reply = await stream.Reply.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (!reply.GetProperty("ok").GetBoolean())
            {
                var code = reply.GetProperty("code").GetString() ?? "";
                var message = reply.GetProperty("message").GetString() ?? "";
                throw code switch
                {
                    "refused" => new PreviewConnectException(false, message),
                    "timeout" => new PreviewConnectException(true, message),
                    _ => TerminalException.FromAgent(code, message),
                };
            }
            return new AgentRelayStream(stream);
        }
        catch
        {
            await stream.CloseAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<AgentStream> StartStreamAsync(string op, JsonObject arguments, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        Touch();
        var agent = await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
        return await agent.StartStreamAsync(op, arguments, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Nothing listens on the port inside the sandbox (refused), or it did not accept in time.</summary>
public sealed class PreviewConnectException(bool timedOut, string message) : Exception(message)
{
    public bool TimedOut { get; } = timedOut;
}
