using System.Text;
using Warden.Core.Pool;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>A bwrap sandbox started ahead of its request: bwrap (or the python zygote's child) already runs the language stub.</summary>
internal sealed class BwrapWarmSandbox(SlotPool pool, SandboxSlot slot, ParkedHelper helper, WarmRecipe recipe, ExitReport? report,
    bool started = false) : SlotWarmSandbox(pool, slot, helper, recipe)
{
    public override string WorkspacePath => SandboxSpecBuilder.DefaultWorkspace;

    protected override Task<int?>? ReadExitReport() => report?.ReadAsync();

    // bwrap's teardown (the namespaces' end) takes a few ms, and killing it midway leaves nothing behind: a short grace
    // bounds what a program that wrote the report itself gets to run after its run ended.
    protected override TimeSpan TeardownGrace => TimeSpan.FromSeconds(1);

    protected override Func<Task>? Cleanup => report is null ? null : () =>
    {
        report.Dispose();
        return Task.CompletedTask;
    };

    protected override Task<StartEvidence> StartedAsync(ParkedHelper helper) => BwrapSandbox.ReadStatusAsync(helper, started);

    /// <summary>
    /// Waits for the sandbox's first status line, <c>{"child-pid": N}</c>: a zygote's sandbox writes it once it is set up,
    /// so a sandbox that could not start (the zygote gone, a mount refused) fails its refill instead of a request.
    /// </summary>
    public static async Task AwaitStartAsync(ParkedHelper helper, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var line = new List<byte>(32);
        var one = new byte[1];
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            int n;
            try { n = await helper.Status.ReadAsync(one, deadline.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { throw new TimeoutException("The warm sandbox did not start in time."); }
            if (n == 0) throw new IOException("The warm sandbox failed to start.");
            if (one[0] == (byte)'\n') break;
            line.Add(one[0]);
        }
        if (!Encoding.UTF8.GetString(line.ToArray()).Contains("\"child-pid\"", StringComparison.Ordinal))
            throw new IOException("The warm sandbox reported something else than its start.");
    }
}
