using System.Globalization;

namespace Warden.Core.Cgroups;

/// <summary>Small helpers for cgroupfs's one-value-per-file interface.</summary>
internal static class CgroupFiles
{
    public static void Write(string path, string value) => File.WriteAllText(path, value);

    public static bool TryWrite(string path, string value)
    {
        try { File.WriteAllText(path, value); return true; }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    public static long ReadLong(string path)
    {
        var text = File.ReadAllText(path).Trim();
        return text == "max" ? long.MaxValue : long.Parse(text, CultureInfo.InvariantCulture);
    }

    /// <summary>Reads "key value" lines (memory.events, memory.oom_control, cpu.stat) and returns one key's value.</summary>
    public static long ReadKey(string path, string key)
    {
        foreach (var line in File.ReadLines(path))
        {
            var space = line.IndexOf(' ');
            if (space > 0 && line.AsSpan(0, space).SequenceEqual(key))
                return long.Parse(line.AsSpan(space + 1), CultureInfo.InvariantCulture);
        }
        return 0;
    }

    public static List<int> ReadPids(string procsFile)
    {
        var pids = new List<int>();
        try
        {
            foreach (var line in File.ReadLines(procsFile))
                if (int.TryParse(line, out int pid)) pids.Add(pid);
        }
        catch (IOException) { }
        return pids;
    }

    /// <summary>
    /// SIGKILLs every pid listed in <paramref name="procsFiles"/> (but the <paramref name="survivors"/>) until none is left.
    /// pids.max bounds how fast a fork bomb can replace what we kill, so this converges in a few rounds.
    /// </summary>
    public static async Task KillLoopAsync(IReadOnlyList<string> procsFiles, IReadOnlyCollection<int> survivors, CancellationToken cancellationToken)
    {
        for (int round = 0; ; round++)
        {
            var alive = procsFiles.SelectMany(ReadPids).Where(p => !survivors.Contains(p)).Distinct().ToList();
            if (alive.Count == 0) return;
            foreach (var pid in alive) Interop.Libc.kill(pid, Interop.Libc.SIGKILL);
            await Task.Delay(round < 10 ? 1 : 10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>rmdir, retrying while the kernel still counts exiting tasks (EBUSY for a few hundred ms after a kill).</summary>
    public static void RemoveDirectory(string path)
    {
        for (int attempt = 0; ; attempt++)
        {
            try { Directory.Delete(path); return; }
            catch (DirectoryNotFoundException) { return; }
            catch (IOException) when (attempt < 100) { Thread.Sleep(10); }
        }
    }
}
