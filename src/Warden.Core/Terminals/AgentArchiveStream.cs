namespace Warden.Core.Terminals;

/// <summary>
/// An archive as the agent makes it: its chunks in order, then the end (the agent's final answer). An archive the agent
/// cut at the cap, or one whose sandbox died, ends with an <see cref="IOException"/>, never a clean end a client could
/// take for a whole file.
/// </summary>
internal sealed class AgentArchiveStream(AgentStream stream) : Stream
{
    private ReadOnlyMemory<byte> _current;
    private int _disposed;

    public override bool CanRead => true;

    public override bool CanWrite => false;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Waits for the first chunk or the answer; throws the agent's refusal when it came before any byte.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var chunks = stream.Chunks.Reader;
        await Task.WhenAny(chunks.WaitToReadAsync(cancellationToken).AsTask(), stream.Reply).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (stream.Reply.IsCompleted && !chunks.TryPeek(out _))
        {
            var reply = await stream.Reply.ConfigureAwait(false);
            if (!reply.GetProperty("ok").GetBoolean())
                throw TerminalException.FromAgent(reply.GetProperty("code").GetString() ?? "", reply.GetProperty("message").GetString() ?? "");
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var chunks = stream.Chunks.Reader;
        while (_current.IsEmpty)
        {
            if (chunks.TryRead(out var chunk))
            {
                _current = chunk;
                await stream.Consumed(cancellationToken).ConfigureAwait(false);
                break;
            }
            // Every chunk precedes the answer on the agent's one output, so once the answer is here no chunk is left.
            if (stream.Reply.IsCompleted)
            {
                System.Text.Json.JsonElement reply;
                try { reply = await stream.Reply.ConfigureAwait(false); }
                catch (TerminalException e) { throw new IOException(e.Message, e); }
                if (reply.GetProperty("ok").GetBoolean()) return 0;
                throw new IOException(reply.GetProperty("message").GetString());
            }
            await Task.WhenAny(chunks.WaitToReadAsync(cancellationToken).AsTask(), stream.Reply).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        int n = Math.Min(buffer.Length, _current.Length);
        _current[..n].CopyTo(buffer);
        _current = _current[n..];
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) await stream.CloseAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0) _ = stream.CloseAsync();
        base.Dispose(disposing);
    }
}
