using System.Text;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Equivalence;

/// <summary>
/// Every backend builds the sandbox the SandboxSpec describes: a probe prints what it sees from inside (mounts and
/// whether they are read-only, ids, capabilities, seccomp and no_new_privs, rlimits, hostname, interfaces, writable
/// paths), and each fact must equal <see cref="CanonicalSandbox"/>'s unless <see cref="KnownDifferences"/> lists it for
/// that backend. Each backend is held to the same canonical sandbox, so any two agree bar their listed differences.
/// </summary>
[Collection(nameof(SandboxCollection))]
public sealed class SandboxEquivalenceTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Probe_EveryFact_MatchesTheSpecOrIsAKnownDifference(string backend)
    {
        var expected = CanonicalSandbox.Facts(CanonicalSandbox.Spec());
        var seen = await SandboxProbe.RunAsync(engines[backend].Engine);

        var problems = new StringBuilder();
        var used = new HashSet<KnownDifference>();
        foreach (var fact in expected.Keys.Union(seen.Keys).Order(StringComparer.Ordinal))
        {
            var want = expected.GetValueOrDefault(fact, "(none)");
            var got = seen.GetValueOrDefault(fact, "(none)");
            if (want == got) continue;
            if (KnownDifferences.Find(backend, fact) is not { } known)
                problems.Append("  ").Append(fact).Append(": spec ").Append(want).Append(", ").Append(backend).Append(' ').Append(got).Append(" (not a known difference)\n");
            else if (known.Seen is { } pinned && pinned != got)
                problems.Append("  ").Append(fact).Append(": ").Append(backend).Append(' ').Append(got).Append(", the table says ").Append(pinned).Append('\n');
            else used.Add(known);
        }
        // A listed difference that no longer happens is a wrong row: the table must stay true (rows for any backend
        // depend on the run, a warm sandbox's exit report).
        foreach (var stale in KnownDifferences.All.Where(d => d.Backend == backend && !used.Contains(d)))
            problems.Append("  ").Append(stale.Fact).Append(": listed as a difference of ").Append(backend).Append(", but it saw what the spec says\n");
        Assert.True(problems.Length == 0, $"{backend} differs from the SandboxSpec:\n{problems}\nEverything the probe saw:\n" +
            string.Join('\n', seen.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"  {f.Key} = {f.Value}")));
    }

    /// <summary>docs/sandbox-spec.md has a row for every known difference, and no other.</summary>
    [Fact]
    public void KnownDifferences_Documented_OneRowEach()
    {
        var doc = File.ReadAllLines(Path.Combine(RepositoryRoot(), "docs", "sandbox-spec.md"));
        // The section's table only: from its heading to the next one.
        var rows = doc.SkipWhile(l => !l.StartsWith("## Known differences", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => !l.StartsWith("## ", StringComparison.Ordinal))
            .Where(l => l.StartsWith("| ", StringComparison.Ordinal) && l.Contains("| `", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries))
            .Select(c => (Backend: c[1], Fact: c[2].Trim('`'), Seen: c[3].Trim('`')))
            .ToList();

        var table = KnownDifferences.All.Select(d => (d.Backend, d.Fact, Seen: d.Seen ?? "varies")).ToList();
        Assert.Equal(table.Order(), rows.Order());
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Warden.slnx"))) return dir.FullName;
        throw new InvalidOperationException("No Warden.slnx above " + AppContext.BaseDirectory);
    }
}
