using System.Text.Json;

namespace Warden.Core.Sessions;

/// <summary>Something a cell produced, in the order the kernel produced it (Jupyter's iopub outputs).</summary>
public abstract record CellOutput
{
    /// <summary>Approximate size counted against the cell's output cap.</summary>
    public abstract long Size { get; }
}

/// <summary>Text written to stdout or stderr (<see cref="Name"/> is "stdout" or "stderr").</summary>
public sealed record StreamOutput(string Name, string Text) : CellOutput
{
    public override long Size => Text.Length;
}

/// <summary>Rich data shown during the cell (a figure): <see cref="Data"/> maps MIME types to values.</summary>
public sealed record DisplayDataOutput(JsonElement Data, JsonElement Metadata) : CellOutput
{
    public override long Size => Data.GetRawText().Length;
}

/// <summary>The value of the cell's last expression.</summary>
public sealed record ExecuteResultOutput(int ExecutionCount, JsonElement Data, JsonElement Metadata) : CellOutput
{
    public override long Size => Data.GetRawText().Length;
}

/// <summary>An exception that ended the cell.</summary>
public sealed record ErrorOutput(string Name, string Value, IReadOnlyList<string> Traceback) : CellOutput
{
    public override long Size => Name.Length + Value.Length + Traceback.Sum(t => (long)t.Length);
}
