using System.Globalization;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>
/// Names this engine instance in shared host resources (cgroups, slot mounts) as <c>{pid}-{start}-{seq}-{pidns}</c>,
/// so several instances (a server and a CLI run, or tests) never collide, and leftovers of dead instances are
/// recognisable: the pid is gone, or it was reused by a process with a different start time. The pid namespace is part
/// of the name because a pid means nothing outside it: two containers (or a container and the host) sharing the
/// host's cgroupfs would otherwise take each other's live sandboxes for a crashed instance's and kill them.
/// </summary>
internal static class WardenInstance
{
    private static int _sequence;

    public static string NewName()
    {
        int pid = Environment.ProcessId;
        return $"{pid}-{StartTime(pid)}-{Interlocked.Increment(ref _sequence)}-{PidNamespace.Value}";
    }

    private static readonly Lazy<string> PidNamespace = new(() =>
    {
        // "pid:[4026531836]" → "4026531836": the namespace's inode, the same for every process in it.
        var link = new FileInfo("/proc/self/ns/pid").LinkTarget ?? "";
        var digits = new string(link.Where(char.IsAsciiDigit).ToArray());
        return digits.Length > 0 ? digits : "0";
    });

    /// <summary>True when the instance's process still runs (the instance itself may have been disposed).</summary>
    public static bool IsAlive(string name)
    {
        var parts = name.Split('-');
        // Not a name of ours: leave it alone. Three parts: an older version's name, from before the namespace was in it.
        if (parts.Length is not (3 or 4) || !int.TryParse(parts[0], out int pid)) return true;
        // Another pid namespace's instance cannot be judged from here: leave it to its own kind.
        if (parts.Length == 4 && parts[3] != PidNamespace.Value) return true;
        if (pid == Environment.ProcessId) return true;
        var start = StartTime(pid);
        return start != "gone" && start == parts[1];
    }

    private static string StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Field 22 (starttime) follows the ")" that closes the command name, which may contain spaces.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[19], CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return "gone";
        }
    }
}
