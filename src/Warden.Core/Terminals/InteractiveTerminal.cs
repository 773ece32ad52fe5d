using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Warden.Core.Terminals;

/// <summary>
/// One interactive terminal (open-terminal's <c>/api/terminals</c>): a login shell on a PTY inside its user's sandbox,
/// created by one chat. Output waits here for the one WebSocket that may attach. Memory is bounded by back-pressure: the
/// agent stops reading the PTY while <see cref="TerminalOptions.PtyWindowBytes"/> are unacknowledged, and output is
/// acknowledged only once it was handed to the WebSocket; a sandbox that ignored the window would lose output beyond
/// twice that here, never grow it.
/// </summary>
public sealed class InteractiveTerminal
{
    private readonly TerminalAgent _agent;
    private readonly Action _activity;
    private readonly Channel<byte[]> _output = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource<int?> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _maxBuffered;
    private long _buffered;
    private int _attached;

    internal InteractiveTerminal(string id, string? sessionId, DateTimeOffset createdAt, TerminalAgent agent, long windowBytes, Action activity)
    {
        _activity = activity;
        Id = id;
        SessionId = sessionId;
        CreatedAt = createdAt;
        _agent = agent;
        _maxBuffered = windowBytes * 2;
    }

    public string Id { get; }

    /// <summary>The chat (X-Session-Id) that created it, or null.</summary>
    public string? SessionId { get; }

    public DateTimeOffset CreatedAt { get; }

    /// <summary>The shell's pid (in the sandbox's pid namespace).</summary>
    public int Pid { get; internal set; }

    /// <summary>Completes with the shell's exit code (null: the sandbox went away) when the terminal is over.</summary>
    public Task<int?> Ended => _ended.Task;

    public bool HasEnded => _ended.Task.IsCompleted;

    public bool IsAttached => Volatile.Read(ref _attached) != 0;

    /// <summary>Output of the shell, in order; completes when the terminal ended.</summary>
    public ChannelReader<byte[]> Output => _output.Reader;

    /// <summary>Claims the terminal for one WebSocket; false when another already has it (open-terminal: 4009).</summary>
    public bool TryAttach() => Interlocked.CompareExchange(ref _attached, 1, 0) == 0;

    internal void OnOutput(byte[] data)
    {
        if (Interlocked.Add(ref _buffered, data.Length) > _maxBuffered)
        {
            Interlocked.Add(ref _buffered, -data.Length);
            return;
        }
        _output.Writer.TryWrite(data);
    }

    internal void OnExit(int? code)
    {
        _output.Writer.TryComplete();
        _ended.TrySetResult(code);
    }

    /// <summary>Keystrokes (or a paste) for the shell; sent in order.</summary>
    public async ValueTask WriteInputAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        _activity();
        for (int start = 0; start < data.Length; start += 65536)
        {
            var chunk = data.Slice(start, Math.Min(65536, data.Length - start));
            await _agent.NotifyAsync(new JsonObject { ["op"] = "pty_input", ["terminal"] = Id, ["data"] = Convert.ToBase64String(chunk.Span) },
                cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask ResizeAsync(int cols, int rows, CancellationToken cancellationToken) =>
        _agent.NotifyAsync(new JsonObject { ["op"] = "pty_resize", ["terminal"] = Id, ["cols"] = Math.Clamp(cols, 1, 1000), ["rows"] = Math.Clamp(rows, 1, 1000) },
            cancellationToken);

    /// <summary>Tells the agent that <paramref name="bytes"/> of output were delivered, so it reads the PTY again.</summary>
    public ValueTask AcknowledgeAsync(int bytes, CancellationToken cancellationToken)
    {
        Interlocked.Add(ref _buffered, -bytes);
        _activity();
        return _agent.NotifyAsync(new JsonObject { ["op"] = "pty_ack", ["terminal"] = Id, ["bytes"] = bytes }, cancellationToken);
    }
}
