using System.Buffers;

namespace Warden.Core.Sandboxing;

/// <summary>
/// Drains one output stream into memory up to a cap. Past the cap bytes are dropped, never buffered, and
/// <c>onLimit</c> fires once so the caller can kill the producer.
/// </summary>
internal sealed class CappedReader(long cap, Action onLimit, Action<ReadOnlyMemory<byte>>? onChunk = null)
{
    private readonly MemoryStream _buffer = new();
    private int _limitHit;

    public bool Truncated => _limitHit != 0;

    public byte[] ToArray() => _buffer.ToArray();

    /// <summary>Takes bytes that arrived some other way (e.g. demultiplexed Docker frames), under the same cap.</summary>
    public void Append(ReadOnlyMemory<byte> data)
    {
        long room = cap - _buffer.Length;
        int keep = (int)Math.Min(room, data.Length);
        if (keep > 0)
        {
            _buffer.Write(data.Span[..keep]);
            onChunk?.Invoke(data[..keep]);
        }
        if (keep < data.Length && Interlocked.Exchange(ref _limitHit, 1) == 0) onLimit();
    }

    public async Task DrainAsync(Stream stream, CancellationToken cancellationToken)
    {
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                int n = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
                if (n == 0) return;
                Append(chunk.AsMemory(0, n));
            }
        }
        catch (IOException)
        {
            // The write end vanished with the killed sandbox: what we have is the output.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }
}
