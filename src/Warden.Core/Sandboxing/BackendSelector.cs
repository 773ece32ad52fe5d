using System.Collections.Frozen;
using Microsoft.Extensions.Options;

namespace Warden.Core.Sandboxing;

/// <summary>Picks the configured backend by name; <c>auto</c> prefers the strongest isolation this host can run.</summary>
public sealed class BackendSelector
{
    private static readonly string[] AutoPreference = ["gvisor", "bwrap"];
    private readonly Lazy<ISandboxBackend> _selected;

    public BackendSelector(IEnumerable<ISandboxBackend> backends, IOptions<WardenOptions> options)
    {
        ByName = backends.ToFrozenDictionary(b => b.Name, StringComparer.OrdinalIgnoreCase);
        var wanted = options.Value.Backend;
        if (!string.Equals(wanted, "auto", StringComparison.OrdinalIgnoreCase) && !ByName.ContainsKey(wanted))
            throw new OptionsValidationException(WardenOptions.Section, typeof(WardenOptions),
                [$"Warden:Backend '{wanted}' is unknown. Available: auto, {string.Join(", ", ByName.Keys)}."]);
        _selected = new Lazy<ISandboxBackend>(() =>
            string.Equals(wanted, "auto", StringComparison.OrdinalIgnoreCase)
                ? AutoPreference.Where(ByName.ContainsKey).Select(n => ByName[n]).FirstOrDefault(b => b.Probe().CanRun) ?? ByName["bwrap"]
                : ByName[wanted]);
    }

    public FrozenDictionary<string, ISandboxBackend> ByName { get; }

    public ISandboxBackend Selected => _selected.Value;
}
