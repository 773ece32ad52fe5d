using System.Text;

namespace Warden.Core.Workspaces;

/// <summary>One line of <c>/proc/self/mountinfo</c>: where a filesystem is mounted, what it is and from which device.</summary>
internal sealed record MountEntry(string MountPoint, string FsType, string Source, string Options);

/// <summary>Reads this process's mount table (its mount namespace: the host's, for a server).</summary>
internal static class MountTable
{
    public static IReadOnlyList<MountEntry> Read(string path = "/proc/self/mountinfo")
    {
        var entries = new List<MountEntry>();
        foreach (var line in File.ReadLines(path))
        {
            // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
            var fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-", 6);
            if (fields.Length < 7 || separator < 0 || separator + 2 >= fields.Length) continue;
            entries.Add(new MountEntry(Unescape(fields[4]), fields[separator + 1], Unescape(fields[separator + 2]), fields[5]));
        }
        return entries;
    }

    /// <summary>The entry mounted at exactly <paramref name="mountPoint"/> (the last one: it is the one visible there).</summary>
    public static MountEntry? At(string mountPoint) => Read().LastOrDefault(m => m.MountPoint == mountPoint);

    /// <summary>Mount points at or below <paramref name="root"/>, deepest first (the order to unmount them).</summary>
    public static IReadOnlyList<MountEntry> Under(string root)
    {
        var prefix = root.TrimEnd('/') + "/";
        return [.. Read().Where(m => m.MountPoint.StartsWith(prefix, StringComparison.Ordinal)).OrderByDescending(m => m.MountPoint.Length)];
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash (all ASCII) as \ooo, three octal digits.</summary>
    internal static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal)) return field;
        var text = new StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                text.Append((char)((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0')));
                i += 3;
            }
            else text.Append(field[i]);
        }
        return text.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
