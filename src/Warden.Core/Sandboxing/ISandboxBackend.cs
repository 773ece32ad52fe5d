namespace Warden.Core.Sandboxing;

/// <summary>An isolation mechanism, plugged in by name (<c>Warden:Backend</c>).</summary>
public interface ISandboxBackend
{
    /// <summary>The name configuration refers to: "bwrap", "gvisor", "docker".</summary>
    string Name { get; }

    /// <summary>Checks whether this host can run the backend, without side effects. Used by doctor, health and start-up.</summary>
    BackendProbe Probe();

    /// <summary>What it can do beyond single executions; checked at start-up against the enabled surfaces.</summary>
    BackendCapabilities Capabilities { get; }

    /// <summary>
    /// Prepares the backend (cgroups, pre-started slots). Called by <see cref="BackendStartup"/> only, once, before the
    /// first sandbox; everything else awaits <see cref="BackendStartup.StartAsync"/>.
    /// </summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Takes a fresh sandbox with an empty workspace. Dispose it to destroy everything it held.</summary>
    ValueTask<ISandbox> AcquireAsync(CancellationToken cancellationToken);

    /// <summary>Its state now, for /health, /config and metrics: instance, cgroups, slots, quarantine, degraded or not.</summary>
    BackendStatus Status();
}

/// <summary>One check of a backend's prerequisites, with the exact fix when it fails.</summary>
public sealed record ProbeCheck(string Name, bool Ok, string Detail, string? Fix = null, bool Required = true);

public sealed record BackendProbe(string Backend, IReadOnlyList<ProbeCheck> Checks)
{
    /// <summary>True when every required check passed.</summary>
    public bool CanRun => Checks.All(c => c.Ok || !c.Required);

    /// <summary>True when the backend can run but without some protection (e.g. no cgroups).</summary>
    public bool Degraded => Checks.Any(c => !c.Ok && !c.Required);

    /// <summary>Fails start-up with every failed check and its fix.</summary>
    public static void ThrowUnlessRunnable(BackendProbe probe)
    {
        if (probe.CanRun) return;
        throw new InvalidOperationException($"The {probe.Backend} backend cannot run on this host: " +
            string.Join("; ", probe.Checks.Where(c => !c.Ok && c.Required).Select(c => $"{c.Name}: {c.Detail}. Fix: {c.Fix}")) +
            " (run `warden doctor` for details)");
    }
}
