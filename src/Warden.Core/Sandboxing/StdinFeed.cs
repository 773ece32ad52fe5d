namespace Warden.Core.Sandboxing;

/// <summary>
/// What a program reads on stdin: the request's bytes, then (interactive callers) whatever arrives on a stream until it
/// ends. Each backend decides how to signal end-of-file afterwards (close a pipe, half-close a socket).
/// </summary>
internal static class StdinFeed
{
    public static async Task WriteAsync(Stream target, byte[] data, Stream? source, CancellationToken stop)
    {
        if (data.Length > 0) await target.WriteAsync(data, stop).ConfigureAwait(false);
        if (source is null) return;
        var buffer = new byte[16 * 1024];
        int n;
        while ((n = await source.ReadAsync(buffer, stop).ConfigureAwait(false)) > 0)
        {
            await target.WriteAsync(buffer.AsMemory(0, n), stop).ConfigureAwait(false);
            await target.FlushAsync(stop).ConfigureAwait(false);
        }
    }
}
