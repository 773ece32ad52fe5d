namespace Warden.Core.Terminals;

/// <summary>
/// A connection to a server inside a user's sandbox, relayed by their agent: reads take the agent's chunks in order
/// (granting it one more chunk each), writes are sent and acknowledged one at a time, so their order is kept.
/// </summary>
internal sealed class AgentRelayStream(AgentStream stream) : Stream
{
    private ReadOnlyMemory<byte> _current;
    private int _disposed;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_current.IsEmpty)
        {
            try
            {
                if (!await stream.Chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false)) return 0;
            }
            catch (TerminalException e)
            {
                throw new IOException(e.Message, e);
            }
            if (!stream.Chunks.Reader.TryRead(out var chunk)) return 0;
            _current = chunk;
            await stream.Consumed(cancellationToken).ConfigureAwait(false);
        }
        int n = Math.Min(buffer.Length, _current.Length);
        _current[..n].CopyTo(buffer);
        _current = _current[n..];
        return n;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // The agent takes at most a line's worth at a time; 256 KiB pieces keep its lines short.
        for (int start = 0; start < buffer.Length; start += 256 * 1024)
        {
            try
            {
                await stream.SendAsync(buffer.Slice(start, Math.Min(256 * 1024, buffer.Length - start)), cancellationToken).ConfigureAwait(false);
            }
            catch (TerminalException e)
            {
                throw new IOException(e.Message, e);
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

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
