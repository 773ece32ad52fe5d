using System.Diagnostics;
using System.Text.Json;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>One gVisor run per <see cref="RunAsync"/>: write the bundle, let the parked helper exec <c>runsc run</c>.</summary>
internal sealed class GvisorSandbox(GvisorBackend backend, SlotPool pool, SandboxSlot slot) : SlotSandbox(pool, slot)
{
    public override string WorkspacePath => OciSpec.Workspace;

    public override async Task<ProcessOutcome> RunAsync(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken)
    {
        var helper = await TakeHelperAsync().ConfigureAwait(false);
        var uid = Slot.Uid ?? throw new InvalidOperationException("gVisor slots need a sandbox uid (run as root).");
        var bundle = backend.BundleDirectory(Slot.Name);
        Directory.CreateDirectory(bundle);
        var spec = OciSpec.Build(backend.Layout, Slot.HostWorkspace, uid, limits, command);
        await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), spec.ToJsonString(), cancellationToken).ConfigureAwait(false);
        var pidFile = Path.Combine(bundle, "pid");
        File.Delete(pidFile);
        var id = backend.NextContainerId(Slot.Name);

        var control = new List<string>
        {
            // No RLIMIT_FSIZE/CPU on runsc itself: the Sentry's guest memory is a host file it truncates to gigabytes, and
            // its CPU time includes gVisor's own. The spec's rlimits apply to the program inside.
            "rlimit=core:0:0", "--",
            backend.Options.RunscPath, "--root", backend.StateRoot, "--platform", backend.Platform,
            "--network", limits.Network ? "host" : "none", "--ignore-cgroups", "--oci-seccomp",
        };
        if (backend.Options.DebugLogDirectory is { } logs) control.AddRange(["--debug", "--debug-log", logs.TrimEnd('/') + "/"]);
        control.AddRange(["run", "--bundle", bundle, "--pid-file", pidFile, id]);
        // The Sentry and gofer are charged to the same cgroup as the program: give them their overhead on top.
        var cgroupLimits = limits with
        {
            MemoryBytes = limits.MemoryBytes + ((long)backend.Options.MemoryOverheadMb << 20),
            MaxProcesses = Math.Max(limits.MaxProcesses, backend.Options.HostPidsLimit),
        };
        try
        {
            // gVisor does not enforce RLIMIT_CPU: watch the cgroup's CPU time instead.
            return await SlotRun.RunAsync(Slot, helper, control, command, limits, cgroupLimits, h => StartedAsync(h, pidFile), cancellationToken,
                watchCpuTime: true).ConfigureAwait(false);
        }
        finally
        {
            await DeleteIfLeftAsync(id).ConfigureAwait(false);
        }
    }

    /// <summary>runsc writes the pid file once the container exists; without it, runsc failed before the program could start.</summary>
    private static async Task<StartEvidence> StartedAsync(ParkedHelper helper, string pidFile)
    {
        await helper.Status.DisposeAsync().ConfigureAwait(false);
        await helper.Process.WaitForExitAsync().ConfigureAwait(false);
        return new StartEvidence(File.Exists(pidFile) && new FileInfo(pidFile).Length > 0, ExitCode: null);
    }

    /// <summary>A killed <c>runsc run</c> leaves a "stopped" container record behind; delete it.</summary>
    private async Task DeleteIfLeftAsync(string id)
    {
        if (!File.Exists(Path.Combine(backend.StateRoot, id + "_sandbox:" + id + ".state"))
            && !Directory.EnumerateFileSystemEntries(backend.StateRoot, "*" + id + "*").Any()) return;
        var start = new ProcessStartInfo(backend.Options.RunscPath) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--root", backend.StateRoot, "delete", "--force", id }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token).ConfigureAwait(false);
    }

    internal static string Serialize(JsonElement element) => element.GetRawText();
}
