namespace Warden.Core.Execution;

/// <summary>Which output stream a chunk came from.</summary>
public enum OutputStreamKind
{
    Stdout,
    Stderr,
}

/// <summary>
/// Output as the sandbox produced it, for streaming callers. <see cref="Data"/> is only valid during the callback
/// (it points into a pooled read buffer): copy it to keep it. Only bytes within the output cap are reported.
/// </summary>
public readonly record struct OutputChunk(bool Compile, OutputStreamKind Stream, ReadOnlyMemory<byte> Data);
