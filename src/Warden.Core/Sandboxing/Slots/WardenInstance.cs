using System.Globalization;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>
/// Names this engine instance in shared host resources (cgroups, slot mounts) as <c>{pid}-{start}-{seq}</c>, so
/// several instances (a server and a CLI run, or tests) never collide, and leftovers of dead instances are
/// recognisable: the pid is gone, or it was reused by a process with a different start time.
/// </summary>
internal static class WardenInstance
{
    private static int _sequence;

    public static string NewName()
    {
        int pid = Environment.ProcessId;
        return $"{pid}-{StartTime(pid)}-{Interlocked.Increment(ref _sequence)}";
    }

    /// <summary>True when the instance's process still runs (the instance itself may have been disposed).</summary>
    public static bool IsAlive(string name)
    {
        var parts = name.Split('-');
        if (parts.Length != 3 || !int.TryParse(parts[0], out int pid)) return true; // not ours: leave it alone
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
