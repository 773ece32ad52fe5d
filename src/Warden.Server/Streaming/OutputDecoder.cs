using System.Text;
using Warden.Core.Execution;

namespace Warden.Server.Streaming;

/// <summary>
/// Turns output chunks into text without splitting a UTF-8 character across two events: one stateful decoder per stage
/// and stream. Each stream is read by one thread, so each decoder has one user.
/// </summary>
internal sealed class OutputDecoder
{
    private readonly Decoder[] _decoders = [.. Enumerable.Range(0, 4).Select(_ => Encoding.UTF8.GetDecoder())];

    public StreamEvent Decode(OutputChunk chunk)
    {
        var decoder = _decoders[Index(chunk.Compile, chunk.Stream)];
        var chars = new char[Encoding.UTF8.GetMaxCharCount(chunk.Data.Length)];
        int n = decoder.GetChars(chunk.Data.Span, chars, flush: false);
        return new StreamEvent(chunk.Stream == OutputStreamKind.Stdout ? "stdout" : "stderr", chunk.Compile ? "compile" : "run", new string(chars, 0, n));
    }

    /// <summary>What is left in the decoders at the end (an incomplete character becomes U+FFFD).</summary>
    public IEnumerable<StreamEvent> Flush()
    {
        foreach (var compile in new[] { true, false })
            foreach (var stream in new[] { OutputStreamKind.Stdout, OutputStreamKind.Stderr })
            {
                var chars = new char[8];
                int n = _decoders[Index(compile, stream)].GetChars([], chars, flush: true);
                if (n > 0) yield return new StreamEvent(stream == OutputStreamKind.Stdout ? "stdout" : "stderr", compile ? "compile" : "run", new string(chars, 0, n));
            }
    }

    private static int Index(bool compile, OutputStreamKind stream) => (compile ? 2 : 0) + (stream == OutputStreamKind.Stdout ? 0 : 1);
}

/// <summary>A piece of output on its way to a streaming client.</summary>
public sealed record StreamEvent(string Type, string Stage, string Data);
