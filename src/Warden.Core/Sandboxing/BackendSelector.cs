using System.Collections.Frozen;
using Microsoft.Extensions.Options;

namespace Warden.Core.Sandboxing;

/// <summary>
/// Picks the configured backend by name; <c>auto</c> prefers the strongest isolation this host can run that serves
/// every enabled surface (<see cref="SurfaceRequirement"/>).
/// </summary>
public sealed class BackendSelector
{
    private static readonly string[] AutoPreference = ["gvisor", "bwrap"];
    private readonly Lazy<ISandboxBackend> _selected;

    public BackendSelector(IEnumerable<ISandboxBackend> backends, IOptions<WardenOptions> options, IEnumerable<SurfaceRequirement> surfaces)
    {
        ArgumentNullException.ThrowIfNull(options);
        ByName = backends.ToFrozenDictionary(b => b.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var backend in ByName.Values) BackendCapabilities.Verify(backend);
        var needs = surfaces.Select(s => s.Needs).Distinct().ToList();
        var wanted = options.Value.Backend;
        if (!string.Equals(wanted, "auto", StringComparison.OrdinalIgnoreCase) && !ByName.ContainsKey(wanted))
            throw new OptionsValidationException(WardenOptions.Section, typeof(WardenOptions),
                [$"Warden:Backend '{wanted}' is unknown. Available: auto, {string.Join(", ", ByName.Keys)}."]);
        _selected = new Lazy<ISandboxBackend>(() =>
            string.Equals(wanted, "auto", StringComparison.OrdinalIgnoreCase)
                ? AutoPreference.Where(ByName.ContainsKey).Select(n => ByName[n])
                    .FirstOrDefault(b => needs.All(b.Capabilities.Has) && b.Probe().CanRun) ?? ByName["bwrap"]
                : ByName[wanted]);
    }

    public FrozenDictionary<string, ISandboxBackend> ByName { get; }

    public ISandboxBackend Selected => _selected.Value;

    /// <summary>
    /// The selected backend's long-lived sandboxes. A host that serves a surface needing them refused to start without
    /// them (<see cref="BackendStartup"/>), so this fails only in a host that registered no such surface.
    /// </summary>
    public ISessionBackend Sessions => Selected as ISessionBackend
        ?? throw new InvalidOperationException($"The {Selected.Name} backend has no long-lived sandboxes (sessions, kernels, terminals).");
}
