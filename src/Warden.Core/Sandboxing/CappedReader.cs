using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipes;
using Warden.Core.Interop;

namespace Warden.Core.Sandboxing;

/// <summary>
/// Drains one output stream into memory up to a cap. Past the cap bytes are dropped, never buffered, and
/// <c>onLimit</c> fires once so the caller can kill the producer.
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "_buffer is a MemoryStream: managed memory only, nothing to release.")]
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

    /// <summary>
    /// Reads <paramref name="stream"/> to its end. When <paramref name="finish"/> fires (the program reported that it
    /// ended, while the isolation tool that also holds the pipe still runs), takes what is already in the pipe and
    /// stops without waiting for the end: the program's writes finished before its report, so they are all there.
    /// </summary>
    public async Task DrainAsync(Stream stream, CancellationToken finish = default)
    {
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                int n;
                try
                {
                    n = await stream.ReadAsync(chunk, finish).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (finish.IsCancellationRequested)
                {
                    // A cancelled pipe read consumed nothing (the socket engine cancels only a read not yet done).
                    while (Buffered(stream) > 0 && (n = await stream.ReadAsync(chunk, CancellationToken.None).ConfigureAwait(false)) > 0)
                        Append(chunk.AsMemory(0, n));
                    return;
                }
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

    /// <summary>Bytes waiting in a pipe (FIONREAD); 0 for other streams.</summary>
    private static int Buffered(Stream stream)
    {
        if (stream is not PipeStream { SafePipeHandle: var handle }) return 0;
        return Libc.ioctl((int)handle.DangerousGetHandle(), Libc.FIONREAD, out int available) == 0 ? available : 0;
    }
}
