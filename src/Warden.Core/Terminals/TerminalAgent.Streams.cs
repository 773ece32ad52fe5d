using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Warden.Core.Terminals;

/// <summary>
/// Streaming operations of the agent (<c>Agent/warden_terminal_ui.py</c>): an archive, or a relay to a server inside
/// the sandbox. Chunks arrive as <c>{"id": N, "chunk": base64}</c> lines with the operation's id; the agent sends at
/// most a window of them before the host grants more (<see cref="AgentStream.Consumed"/>), so the host never holds more
/// than the window per stream, and the one reader of the agent's output never waits for a slow consumer.
/// </summary>
internal sealed partial class TerminalAgent
{
    private readonly ConcurrentDictionary<long, AgentStream> _streams = new();

    /// <summary>Starts a streaming operation: its chunks go to the returned stream, its final answer to <see cref="AgentStream.Reply"/>.</summary>
    public async Task<AgentStream> StartStreamAsync(string op, JsonObject arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        long id = Interlocked.Increment(ref _nextId);
        var stream = new AgentStream(this, id);
        // Registered before the request is sent: a relay's first bytes may overtake the operation's own answer.
        _streams[id] = stream;
        _pending[id] = stream.ReplySource;
        arguments["id"] = id;
        arguments["op"] = op;
        try
        {
            await WriteLineAsync(arguments, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Forget(id);
            throw;
        }
        return stream;
    }

    /// <summary>An operation whose answer nobody waits for (credits, closing a stream): the answer is dropped on arrival.</summary>
    internal async Task PostAsync(string op, JsonObject arguments, CancellationToken cancellationToken)
    {
        arguments["id"] = Interlocked.Increment(ref _nextId);
        arguments["op"] = op;
        await WriteLineAsync(arguments, cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteLineAsync(JsonObject arguments, CancellationToken cancellationToken)
    {
        var line = System.Text.Encoding.UTF8.GetBytes(arguments.ToJsonString() + "\n");
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_reader.IsCompleted) throw Lost();
            await Sandbox.Input.WriteAsync(line, cancellationToken).ConfigureAwait(false);
            await Sandbox.Input.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException)
        {
            throw Lost();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    internal void Forget(long id)
    {
        if (_streams.TryRemove(id, out var stream)) stream.Chunks.Writer.TryComplete();
        _pending.TryRemove(id, out _);
    }

    private bool RouteToStream(long id, JsonElement root)
    {
        if (!_streams.TryGetValue(id, out var stream)) return false;
        if (root.TryGetProperty("chunk", out var chunk))
        {
            // The agent runs as the user, who can kill it or write into its output: a chunk larger than it may send,
            // or more chunks than it was granted, ends the stream instead of growing the host's memory.
            var bytes = chunk.ValueKind == JsonValueKind.String && chunk.TryGetBytesFromBase64(out var decoded) ? decoded : null;
            if (bytes is null || bytes.Length > AgentStream.MaxChunkBytes || !stream.Chunks.Writer.TryWrite(bytes))
            {
                _streams.TryRemove(id, out _);
                stream.Chunks.Writer.TryComplete(new TerminalException(TerminalFailure.SandboxUnavailable,
                    "The terminal sandbox sent more than the stream allows."));
            }
            return true;
        }
        if (root.TryGetProperty("eof", out _))
        {
            stream.Chunks.Writer.TryComplete();
            return true;
        }
        return false;
    }

    private void EndStreams()
    {
        foreach (var stream in _streams.Values) stream.Chunks.Writer.TryComplete(Lost());
    }
}

/// <summary>One streaming operation's chunks (in order) and final answer.</summary>
internal sealed class AgentStream(TerminalAgent agent, long id)
{
    public long Id { get; } = id;

    /// <summary>The agent's chunk size (CHUNK in warden_terminal_ui.py): a larger chunk is refused.</summary>
    public const int MaxChunkBytes = 64 * 1024;

    /// <summary>Chunks the agent may send ahead of the host's credits (WINDOW in warden_terminal_ui.py).</summary>
    public const int Window = 8;

    /// <summary>
    /// Bounded by the window: a well-behaved agent never has more unacknowledged, since a credit is granted only after
    /// a chunk has left this channel. Twice the window leaves room for credits still in flight.
    /// </summary>
    public Channel<byte[]> Chunks { get; } = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(2 * Window)
    {
        SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
    });

    internal TaskCompletionSource<JsonElement> ReplySource { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The operation's final line: <c>{"ok": true, "result": …}</c> or <c>{"ok": false, "code", "message"}</c>.</summary>
    public Task<JsonElement> Reply => ReplySource.Task;

    /// <summary>Grants the agent one more chunk: the caller has passed one on.</summary>
    public Task Consumed(CancellationToken cancellationToken) =>
        agent.PostAsync("credit", new JsonObject { ["stream"] = Id }, cancellationToken);

    public Task SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        agent.CallAsync("send", new JsonObject { ["stream"] = Id, ["base64"] = Convert.ToBase64String(data.Span) }, cancellationToken);

    /// <summary>Ends the operation in the agent (its socket closed, its sender stopped) and here.</summary>
    public async Task CloseAsync()
    {
        agent.Forget(Id);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await agent.PostAsync("close", new JsonObject { ["stream"] = Id }, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TerminalException or OperationCanceledException or ObjectDisposedException)
        {
            // The sandbox is gone: so is everything the stream held there.
        }
    }
}
