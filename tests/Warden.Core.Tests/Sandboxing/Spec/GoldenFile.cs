using System.Runtime.CompilerServices;
using System.Text;

namespace Warden.Core.Tests.Sandboxing.Spec;

/// <summary>
/// Compares a rendering with its checked-in expected text (Golden/NAME), showing a failure as a line diff with context.
/// <c>WARDEN_UPDATE_GOLDEN=1</c> rewrites the files instead; review the change with <c>git diff</c> before committing it.
/// </summary>
internal static class GoldenFile
{
    public static void AssertMatches(string name, string actual, [CallerFilePath] string callerPath = "")
    {
        var path = Path.Combine(Path.GetDirectoryName(callerPath)!, "Golden", name);
        actual = actual.ReplaceLineEndings("\n");
        if (!actual.EndsWith('\n')) actual += "\n";
        if (Environment.GetEnvironmentVariable("WARDEN_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"No golden file {path}: run with WARDEN_UPDATE_GOLDEN=1 to create it, then review it.");
        var expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        if (expected == actual) return;
        Assert.Fail($"The rendering differs from Golden/{name} (- expected, + actual; WARDEN_UPDATE_GOLDEN=1 rewrites it):\n" + Diff(expected, actual));
    }

    /// <summary>The differing lines, each with up to two lines of context; a longest-common-subsequence line diff.</summary>
    internal static string Diff(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (int i = a.Length - 1; i >= 0; i--)
            for (int j = b.Length - 1; j >= 0; j--)
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
        var lines = new List<(char Kind, int Line, string Text)>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y]) { lines.Add((' ', x + 1, a[x])); x++; y++; }
            else if (x < a.Length && (y == b.Length || lcs[x + 1, y] >= lcs[x, y + 1])) { lines.Add(('-', x + 1, a[x])); x++; }
            else { lines.Add(('+', y + 1, b[y])); y++; }
        }
        var text = new StringBuilder();
        int last = -10;
        for (int i = 0; i < lines.Count; i++)
        {
            int from = Math.Max(0, i - 2);
            bool near = lines.Skip(from).Take(i + 3 - from).Any(l => l.Kind != ' ');
            if (!near) continue;
            if (i > last + 1) text.Append("@@ line ").Append(lines[i].Line).Append('\n');
            text.Append(lines[i].Kind).Append(' ').Append(lines[i].Text).Append('\n');
            last = i;
        }
        return text.ToString();
    }
}
