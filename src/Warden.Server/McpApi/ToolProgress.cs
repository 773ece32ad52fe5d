using System.Diagnostics;
using ModelContextProtocol;

namespace Warden.Server.McpApi;

/// <summary>
/// Progress notifications while a tool runs (sent only when the client asked, with a progress token). They tell a user
/// the run is alive and let clients that reset their request timeout on progress (the TypeScript SDK's
/// <c>resetTimeoutOnProgress</c>) wait for runs longer than that timeout.
/// </summary>
internal static class ToolProgress
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    public static async Task<T> WhileRunningAsync<T>(IProgress<ProgressNotificationValue> progress, Task<T> work, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        int beats = 0;
        while (!work.IsCompleted && !cancellationToken.IsCancellationRequested)
        {
            var tick = Task.Delay(Interval, cancellationToken);
            if (await Task.WhenAny(work, tick) == work) break;
            progress.Report(new ProgressNotificationValue
            {
                Progress = ++beats, Message = $"running for {Stopwatch.GetElapsedTime(started).TotalSeconds:0} s",
            });
        }
        return await work;
    }
}
