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

    public async Task DrainAsync(Stream stream, CancellationToken cancellationToken)
    {
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                int n = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
                if (n == 0) return;
                long room = cap - _buffer.Length;
                int keep = (int)Math.Min(room, n);
                if (keep > 0)
                {
                    _buffer.Write(chunk, 0, keep);
                    onChunk?.Invoke(chunk.AsMemory(0, keep));
                }
                if (keep < n && Interlocked.Exchange(ref _limitHit, 1) == 0) onLimit();
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
