using Warden.Core.Execution;

namespace Warden.Core.Sessions;

/// <summary>
/// One cell in flight: receives the driver's messages for it, enforces the cell's output cap, forwards outputs to the
/// caller as they arrive and keeps them for the result.
/// </summary>
internal sealed class CellRun(int executionCount, long maxOutputBytes, Func<CellOutput, CancellationToken, ValueTask>? sink,
    Action onOutputLimit, CancellationToken cancellationToken)
{
    private readonly TaskCompletionSource<string> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<CellOutput> _outputs = [];
    private long _size;
    private bool _sinkBroken;

    public string Id { get; } = Guid.NewGuid().ToString("N");

    public int ExecutionCount => executionCount;

    /// <summary>The driver's final status ("ok" or "error"), or "lost" when the kernel went away first.</summary>
    public Task<string> Completion => _done.Task;

    public bool OutputLimitHit { get; private set; }

    public ErrorOutput? Error { get; private set; }

    public IReadOnlyList<CellOutput> Outputs => _outputs;

    public async ValueTask AcceptAsync(CellOutput output)
    {
        if (OutputLimitHit || _done.Task.IsCompleted) return;
        if (output is ErrorOutput error) Error = error;
        if (_size + output.Size > maxOutputBytes)
        {
            OutputLimitHit = true;
            long room = Math.Max(0, maxOutputBytes - _size);
            if (output is StreamOutput stream && room > 0) await EmitAsync(stream with { Text = stream.Text[..(int)Math.Min(room, stream.Text.Length)] });
            await EmitAsync(new StreamOutput("stderr",
                $"\n[warden] This cell reached its output limit of {maxOutputBytes} bytes: further output is dropped and the cell is interrupted.\n"));
            onOutputLimit();
            return;
        }
        _size += output.Size;
        await EmitAsync(output);
    }

    public void Complete(string status) => _done.TrySetResult(status);

    private async ValueTask EmitAsync(CellOutput output)
    {
        // The result keeps consecutive writes to one stream as one output; listeners still see each as it came.
        if (output is StreamOutput stream && _outputs.Count > 0 && _outputs[^1] is StreamOutput previous && previous.Name == stream.Name)
            _outputs[^1] = previous with { Text = previous.Text + stream.Text };
        else _outputs.Add(output);
        if (sink is null || _sinkBroken) return;
        try
        {
            await sink(output, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The listener went away (socket closed): the cell still finishes, and its result still has every output.
            _sinkBroken = true;
        }
    }

    public static ExecutionStatus StatusOf(string driverStatus) => driverStatus == "ok" ? ExecutionStatus.Success : ExecutionStatus.Error;
}
