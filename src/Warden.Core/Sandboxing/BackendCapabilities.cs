namespace Warden.Core.Sandboxing;

/// <summary>Something a surface may need from the backend beyond single executions.</summary>
public enum BackendFeature
{
    /// <summary>Single-use sandboxes started ahead of their request (<see cref="IWarmSandboxSource"/>).</summary>
    WarmSandboxes,

    /// <summary>Sandboxes that outlive a request: sessions, Jupyter kernels, terminals (<see cref="ISessionBackend"/>).</summary>
    LongLivedSandboxes,

    /// <summary>A long-lived sandbox on a user's persistent home, as that home's own uid (Open Terminal).</summary>
    PersistentHomes,

    /// <summary>
    /// Runs granted network: a namespace whose only way out is Warden's egress proxy (<see cref="BackendCapabilities.NetworkModes"/>
    /// has "egress"). Needed whenever <c>WARDEN_EGRESS_ALLOW</c> is not empty.
    /// </summary>
    Egress,
}

/// <summary>
/// What a backend can do, declared by the backend itself and checked once at start-up against what the enabled surfaces
/// need (<see cref="SurfaceRequirement"/>), so a surface the backend cannot serve is refused then, never per request.
/// </summary>
public sealed record BackendCapabilities
{
    /// <summary>Warm single-use sandboxes; the backend implements <see cref="IWarmSandboxSource"/>.</summary>
    public bool WarmSandboxes { get; init; }

    /// <summary>Long-lived sandboxes; the backend implements <see cref="ISessionBackend"/>.</summary>
    public bool LongLivedSandboxes { get; init; }

    /// <summary>A long-lived sandbox may run on a persistent workspace (<see cref="SessionSpec.Workspace"/>).</summary>
    public bool PersistentHomes { get; init; }

    /// <summary>Every concurrent sandbox runs as a host uid of its own (needs root); otherwise they share one.</summary>
    public bool PerSlotUids { get; init; }

    /// <summary>
    /// The network modes a run may ask for: "none" always, "egress" where the backend can give a sandbox a namespace
    /// whose only way out is Warden's proxy. There is no host network mode.
    /// </summary>
    public IReadOnlyList<string> NetworkModes { get; init; } = ["none"];

    public override string ToString() =>
        $"warm sandboxes {YesNo(WarmSandboxes)}, long-lived sandboxes {YesNo(LongLivedSandboxes)}, persistent homes {YesNo(PersistentHomes)}, " +
        $"per-slot uids {YesNo(PerSlotUids)}, network {string.Join("/", NetworkModes)}";

    private static string YesNo(bool value) => value ? "yes" : "no";

    public bool Has(BackendFeature feature) => feature switch
    {
        BackendFeature.WarmSandboxes => WarmSandboxes,
        BackendFeature.LongLivedSandboxes => LongLivedSandboxes,
        BackendFeature.PersistentHomes => PersistentHomes,
        BackendFeature.Egress => NetworkModes.Contains("egress"),
        _ => false,
    };

    /// <summary>
    /// Fails when what <paramref name="backend"/> declares and the interfaces it implements disagree: a declaration no
    /// code backs would pass the start-up check and fail per request, and an undeclared one would refuse a surface it can serve.
    /// </summary>
    public static void Verify(ISandboxBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var declared = backend.Capabilities;
        if (declared.WarmSandboxes != backend is IWarmSandboxSource)
            throw new InvalidOperationException($"The {backend.Name} backend declares WarmSandboxes={declared.WarmSandboxes} but " +
                $"{(backend is IWarmSandboxSource ? "implements" : "does not implement")} {nameof(IWarmSandboxSource)}.");
        // Implemented but not declared is allowed: a configuration may rule it out (Docker with another runtime).
        if (declared.LongLivedSandboxes && backend is not ISessionBackend)
            throw new InvalidOperationException($"The {backend.Name} backend declares LongLivedSandboxes={declared.LongLivedSandboxes} but " +
                $"{(backend is ISessionBackend ? "implements" : "does not implement")} {nameof(ISessionBackend)}.");
        if (declared.PersistentHomes && !declared.LongLivedSandboxes)
            throw new InvalidOperationException($"The {backend.Name} backend declares PersistentHomes without LongLivedSandboxes.");
    }
}

/// <summary>
/// A surface's need of the backend, registered by the host that serves the surface (the server; the CLI's run and the
/// test engines serve none). <see cref="BackendStartup"/> refuses to start when the selected backend lacks it.
/// </summary>
/// <param name="Surface">What the operator knows it as, e.g. "Open Terminal (/terminal and the MCP terminal tools)".</param>
/// <param name="TurnOff">The setting that turns the surface off, as the operator writes it (both spellings).</param>
public sealed record SurfaceRequirement(string Surface, BackendFeature Needs, string TurnOff);
