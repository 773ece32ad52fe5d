using System.Text;

namespace Warden.Core.Sandboxing;

/// <summary>
/// The last few KB a session sandbox's program (and its isolation tool) wrote to stderr, read until end of file:
/// start-up failures and driver crashes, for <see cref="ISessionSandbox.RecentErrors"/>.
/// </summary>
internal sealed class StderrTail
{
    private const int TailChars = 8192;
    private readonly StringBuilder _text = new();

    public StderrTail(Stream stderr) => Reading = ReadAsync(stderr);

    /// <summary>Completes at end of file (or when the stream is disposed).</summary>
    public Task Reading { get; }

    public string Text
    {
        get { lock (_text) return _text.ToString(); }
    }

    private async Task ReadAsync(Stream stderr)
    {
        var buffer = new byte[4096];
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
        try
        {
            int n;
            while ((n = await stderr.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                int count = decoder.GetChars(buffer, 0, n, chars, 0);
                lock (_text)
                {
                    _text.Append(chars, 0, count);
                    if (_text.Length > TailChars) _text.Remove(0, _text.Length - TailChars);
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }
}
