using System.Collections.Immutable;

namespace Warden.Core.Egress;

/// <summary>A set of <see cref="EgressPattern"/>s: the server's ceiling, or what one request asked for within it.</summary>
public sealed record EgressPolicy(ImmutableArray<EgressPattern> Patterns)
{
    /// <summary>No egress at all.</summary>
    public static EgressPolicy None { get; } = new(ImmutableArray<EgressPattern>.Empty);

    public bool IsEmpty => Patterns.IsDefaultOrEmpty;

    /// <summary>Parses a comma list (a setting) into a policy; throws <see cref="FormatException"/> naming the bad entry.</summary>
    public static EgressPolicy Parse(string? commaList) =>
        Parse((commaList ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Parses patterns one by one; throws <see cref="FormatException"/> naming the bad entry.</summary>
    public static EgressPolicy Parse(IEnumerable<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        var builder = ImmutableArray.CreateBuilder<EgressPattern>();
        foreach (var text in patterns) builder.Add(EgressPattern.Parse(text));
        return new EgressPolicy(builder.ToImmutable());
    }

    /// <summary>
    /// Whether every pattern is within <paramref name="ceiling"/>; <paramref name="offending"/> is the index of the first
    /// that is not (for a 400 naming <c>network.allow[i]</c>).
    /// </summary>
    public bool IsWithin(EgressPolicy ceiling, out int offending)
    {
        ArgumentNullException.ThrowIfNull(ceiling);
        for (var i = 0; i < Patterns.Length; i++)
        {
            if (!ceiling.Patterns.Any(c => Patterns[i].IsWithin(c))) { offending = i; return false; }
        }
        offending = -1;
        return true;
    }

    /// <summary>The first pattern that allows <paramref name="host"/> (canonical) on <paramref name="port"/>, or null.</summary>
    public EgressPattern? Allows(string host, int port, bool connect)
    {
        if (IsDefaultOrEmpty()) return null;
        foreach (var p in Patterns) if (p.Matches(host, port, connect)) return p;
        return null;
    }

    private bool IsDefaultOrEmpty() => Patterns.IsDefaultOrEmpty;

    public override string ToString() => string.Join(",", Patterns.IsDefault ? [] : Patterns.Select(p => p.Text));
}
