using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Text.Json;
using System.Text.Json.Nodes;
using Warden.Core.Sandboxing;

namespace Warden.Core.Terminals;

/// <summary>
/// The host's end of one user's terminal agent (<c>Agent/warden_terminal.py</c>): a sandbox running the agent and the
/// line-delimited JSON channel to it. Calls are multiplexed by id, so a long status wait and a file read can be in
/// flight together.
/// </summary>
internal sealed partial class TerminalAgent : IAsyncDisposable
{
    /// <summary>The largest legitimate response is a file read at the size cap, base64-encoded.</summary>
    private readonly long _maxLineBytes;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly ConcurrentDictionary<string, InteractiveTerminal> _ptys = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _reader;
    private long _nextId;
    private int _disposed;

    private TerminalAgent(ISessionSandbox sandbox, long maxFileBytes)
    {
        Sandbox = sandbox;
        _maxLineBytes = maxFileBytes * 2 + (1 << 20);
        _reader = Task.Run(ReadLoopAsync);
    }

    public ISessionSandbox Sandbox { get; }

    /// <summary>Completes when the agent's stdout closed: the sandbox is gone.</summary>
    public Task Gone => _reader;

    public static async Task<TerminalAgent> StartAsync(ISessionBackend backend, SessionSpec spec, long maxFileBytes, TimeSpan startTimeout,
        CancellationToken cancellationToken)
    {
        var sandbox = await backend.StartSessionAsync(spec, cancellationToken).ConfigureAwait(false);
        var agent = new TerminalAgent(sandbox, maxFileBytes);
        try
        {
            await Task.WhenAny(agent._ready.Task, agent._reader).WaitAsync(startTimeout, cancellationToken).ConfigureAwait(false);
            if (!agent._ready.Task.IsCompleted)
                throw new TerminalException(TerminalFailure.SandboxUnavailable, "The terminal sandbox exited during start-up: " + Tail(sandbox.RecentErrors));
            return agent;
        }
        catch (TimeoutException)
        {
            var errors = sandbox.RecentErrors;
            await agent.DisposeAsync().ConfigureAwait(false);
            throw new TerminalException(TerminalFailure.SandboxUnavailable, $"The terminal sandbox did not start within {startTimeout.TotalSeconds} s. {Tail(errors)}");
        }
        catch
        {
            await agent.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends one operation and returns its result; the agent's refusals become <see cref="TerminalException"/>.</summary>
    public async Task<JsonElement> CallAsync(string op, JsonObject arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        long id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        try
        {
            arguments["id"] = id;
            arguments["op"] = op;
            await WriteLineAsync(arguments, cancellationToken).ConfigureAwait(false);
            var response = await reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (response.GetProperty("ok").GetBoolean()) return response.GetProperty("result");
            throw TerminalException.FromAgent(response.GetProperty("code").GetString() ?? "", response.GetProperty("message").GetString() ?? "");
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>
    /// Registers an interactive terminal before it is opened (its first output may come before the answer). Its events
    /// come to it; when the agent is gone, it ends.
    /// </summary>
    internal void Register(InteractiveTerminal terminal)
    {
        _ptys[terminal.Id] = terminal;
        if (_reader.IsCompleted && _ptys.TryRemove(terminal.Id, out _)) terminal.OnExit(null);
    }

    internal void Unregister(string terminalId) => _ptys.TryRemove(terminalId, out _);

    /// <summary>A notification (no id, never answered): the agent handles these in order on its reading thread.</summary>
    public async ValueTask NotifyAsync(JsonObject message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var line = System.Text.Encoding.UTF8.GetBytes(message.ToJsonString() + "\n");
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

    private TerminalException Lost() =>
        new(TerminalFailure.SandboxUnavailable, "The user's terminal sandbox has stopped; retry to start a new one. " + Tail(Sandbox.RecentErrors));

    private async Task ReadLoopAsync()
    {
        var reader = PipeReader.Create(Sandbox.Output, new StreamPipeReaderOptions(bufferSize: 65536, leaveOpen: true));
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                while (buffer.PositionOf((byte)'\n') is { } end)
                {
                    Handle(buffer.Slice(0, end));
                    buffer = buffer.Slice(buffer.GetPosition(1, end));
                }
                if (buffer.Length > _maxLineBytes) break;
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            foreach (var pending in _pending.Values) pending.TrySetException(Lost());
            foreach (var id in _ptys.Keys)
                if (_ptys.TryRemove(id, out var terminal)) terminal.OnExit(null);
            EndStreams();
        }
    }

    private void Handle(ReadOnlySequence<byte> line)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(line); }
        catch (JsonException)
        {
            FailUnreadable(line);
            return;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("event", out var kind))
            {
                HandleEvent(kind.GetString(), root);
                return;
            }
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("id", out var idElement) || !idElement.TryGetInt64(out var id)) return;
            if (id == 0)
            {
                _ready.TrySetResult();
                return;
            }
            if (RouteToStream(id, root)) return;
            if (_pending.TryGetValue(id, out var reply)) reply.TrySetResult(root.Clone());
        }
    }

    /// <summary>An interactive terminal's output or end. The user's own processes could write here too: only well-formed events of a registered terminal count.</summary>
    private void HandleEvent(string? kind, JsonElement root)
    {
        if (!root.TryGetProperty("terminal", out var idElement) || idElement.ValueKind != JsonValueKind.String) return;
        var id = idElement.GetString()!;
        if (kind == "pty_output" && _ptys.TryGetValue(id, out var terminal)
            && root.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.String && data.TryGetBytesFromBase64(out var bytes))
            terminal.OnOutput(bytes);
        else if (kind == "pty_exit" && _ptys.TryRemove(id, out terminal))
            terminal.OnExit(root.TryGetProperty("code", out var code) && code.TryGetInt32(out var value) ? value : null);
    }

    /// <summary>
    /// An answer that is not valid JSON (the agent escapes names that are not UTF-8, but be sure): its request fails
    /// instead of waiting forever. The agent writes the id first, which a reader can take before it meets the damage.
    /// </summary>
    private void FailUnreadable(ReadOnlySequence<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject && reader.Read() && reader.TokenType == JsonTokenType.PropertyName
                && reader.ValueTextEquals("id"u8) && reader.Read() && reader.TryGetInt64(out var id) && _pending.TryGetValue(id, out var reply))
                reply.TrySetException(new TerminalException(TerminalFailure.BadRequest, "The terminal sandbox's answer could not be read."));
        }
        catch (JsonException)
        {
        }
    }

    private static string Tail(string text) => text.Length > 2000 ? text[^2000..].Trim() : text.Trim();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await Sandbox.DisposeAsync().ConfigureAwait(false);
        await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _writeLock.Dispose();
    }
}
