using System.Globalization;

namespace Warden.Core.Cgroups;

/// <summary>Small helpers for cgroupfs's one-value-per-file interface.</summary>
internal static class CgroupFiles
{
    // cgroupfs files are read and written on every run: plain open/pread/pwrite/close, because FileStream adds an
    // advisory lock, a truncate and a seek per file (about 30 µs each, measured with strace on the warm path).

    public static void Write(string path, string value)
    {
        int errno = TryWriteRaw(path, value);
        if (errno != 0) throw new IOException($"Cannot write '{value}' to {path}: {Interop.Libc.ErrorText(errno)}");
    }

    public static bool TryWrite(string path, string value) => TryWriteRaw(path, value) == 0;

    public static long ReadLong(string path)
    {
        var text = ReadSmall(path).Trim();
        return text.SequenceEqual("max") ? long.MaxValue : long.Parse(text, CultureInfo.InvariantCulture);
    }

    /// <summary>Reads "key value" lines (memory.events, memory.oom_control, cpu.stat) and returns one key's value.</summary>
    public static long ReadKey(string path, string key)
    {
        var text = ReadSmall(path);
        foreach (var range in text.Split('\n'))
        {
            var line = text[range];
            var space = line.IndexOf(' ');
            if (space > 0 && line[..space].SequenceEqual(key))
                return long.Parse(line[(space + 1)..].Trim(), CultureInfo.InvariantCulture);
        }
        return 0;
    }

    private static unsafe int TryWriteRaw(string path, string value)
    {
        int fd = Interop.Libc.open(path, Interop.Libc.O_WRONLY | Interop.Libc.O_CLOEXEC);
        if (fd < 0) return Interop.Libc.LastError;
        try
        {
            Span<byte> bytes = stackalloc byte[64];
            int length = System.Text.Encoding.ASCII.GetBytes(value, bytes);
            fixed (byte* p = bytes)
                return Interop.Libc.pwrite(fd, p, length, 0) == length ? 0 : Interop.Libc.LastError;
        }
        finally
        {
            Interop.Libc.close(fd);
        }
    }

    /// <summary>The whole content of a small cgroup file (one value or a few key lines).</summary>
    private static unsafe ReadOnlySpan<char> ReadSmall(string path)
    {
        int fd = Interop.Libc.open(path, Interop.Libc.O_RDONLY | Interop.Libc.O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Interop.Libc.LastError;
            throw errno == Interop.Libc.ENOENT
                ? new FileNotFoundException($"{path}: {Interop.Libc.ErrorText(errno)}", path)
                : new IOException($"Cannot read {path}: {Interop.Libc.ErrorText(errno)}");
        }
        try
        {
            const int size = 4096;
            byte* buffer = stackalloc byte[size];
            int used = 0;
            while (used < size)
            {
                nint n = Interop.Libc.pread(fd, buffer + used, size - used, used);
                if (n < 0) throw new IOException($"Cannot read {path}: {Interop.Libc.ErrorText(Interop.Libc.LastError)}");
                if (n == 0) break;
                used += (int)n;
            }
            return System.Text.Encoding.ASCII.GetString(buffer, used);
        }
        finally
        {
            Interop.Libc.close(fd);
        }
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
        var read = CgroupSignals.Reader(procsFiles);
        for (int round = 0; ; round++)
        {
            if (read().All(survivors.Contains)) return;
            // By pidfd, checked against the cgroup again: a pid freed and reused by a host process is never SIGKILLed.
            CgroupSignals.SignalMembers(read, Interop.Libc.SIGKILL, survivors.Contains);
            await Task.Delay(round < 10 ? 1 : 10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// rmdir, retrying while the kernel still counts exiting tasks: EBUSY for a few hundred ms after a kill on a quiet
    /// host, but seconds on a loaded one (killed warm sandboxes at shutdown under a busy test run left slot cgroups
    /// behind after the old 1 s). Up to 10 s, backing off from 10 ms to 200 ms.
    /// </summary>
    public static void RemoveDirectory(string path)
    {
        var deadline = Environment.TickCount64 + 10_000;
        for (int attempt = 0; ; attempt++)
        {
            try { Directory.Delete(path); return; }
            catch (DirectoryNotFoundException) { return; }
            catch (IOException) when (Environment.TickCount64 < deadline) { Thread.Sleep(Math.Min(200, 10 << Math.Min(attempt, 5))); }
        }
    }
}
