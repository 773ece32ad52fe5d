using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Warden.Core.Interop;

namespace Warden.Benchmarks;

internal sealed record MemoryReading(double VmRssMb, double RssAnonMb, double RssFileMb, double RssShmemMb, double PssMb, int Helpers, double HelpersRssMb,
    IReadOnlyList<(string Mapping, double RssMb)> Largest);

internal sealed record IdleMemoryResult(double StartupSeconds, MemoryReading Idle, MemoryReading AfterLoad, int LoadExecutions, int MaxConcurrent);

/// <summary>
/// The service's memory when nothing runs: <c>warden serve</c> as its own process with its default settings, read from
/// /proc/PID/status after /api/v1/health answers and the process has had ~2 s to settle. The parked helpers are
/// separate (small C) processes, reported next to it rather than hidden in or added to the server's number.
/// </summary>
internal static class IdleMemory
{
    public static async Task<IdleMemoryResult> MeasureAsync(string wardenBinary, int loadExecutions, IReadOnlyDictionary<string, string>? environment = null)
    {
        int port = HttpRunner.FreePort();
        var start = new ProcessStartInfo(wardenBinary)
        {
            ArgumentList = { "serve", "--urls", $"http://127.0.0.1:{port}" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("WARDEN_", StringComparison.Ordinal)).ToList()) start.Environment.Remove(key);
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        // A state directory of its own: this process's engines may hold the default one, and a second Warden process on
        // a state directory refuses to start. Where it lives changes nothing measured.
        var state = Directory.CreateTempSubdirectory("warden-idle-memory-").FullName;
        start.Environment["WARDEN_STATE_DIR"] = state;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;

        var clock = Stopwatch.StartNew();
        using var server = Process.Start(start) ?? throw new InvalidOperationException($"could not start {wardenBinary}");
        var log = new StringBuilder();
        server.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        server.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            await WaitForHealthAsync(client, server, log).ConfigureAwait(false);
            double startup = clock.Elapsed.TotalSeconds;
            await Task.Delay(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            var idle = Read(server.Id);

            // A second reading after some work shows whether the idle number survives real use (JIT, pools, GC heap).
            for (int i = 0; i < loadExecutions; i++)
            {
                using var content = new StringContent("""{"language":"python","code":"print(1)"}""", Encoding.UTF8);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var response = await client.PostAsync("/api/v1/execute", content).ConfigureAwait(false);
                response.EnsureSuccessStatusCode();
            }
            await Task.Delay(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            var afterLoad = Read(server.Id);
            using var config = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/api/v1/config").ConfigureAwait(false));
            int slots = config.RootElement.GetProperty("max_concurrent").GetInt32();
            return new IdleMemoryResult(startup, idle, afterLoad, loadExecutions, slots);
        }
        finally
        {
            // SIGTERM: a graceful stop removes the server's cgroups and mounts; SIGKILL only if it hangs.
            Libc.kill(server.Id, 15);
            if (!server.WaitForExit(TimeSpan.FromSeconds(15))) server.Kill(entireProcessTree: true);
            try { Directory.Delete(state, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task WaitForHealthAsync(HttpClient client, Process server, StringBuilder log)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (server.HasExited) throw new InvalidOperationException($"warden serve exited with {server.ExitCode}: {log}");
            try
            {
                using var response = await client.GetAsync("/api/v1/health").ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            await Task.Delay(50).ConfigureAwait(false);
        }
        throw new TimeoutException($"warden serve did not answer /api/v1/health within 60 s: {log}");
    }

    private static MemoryReading Read(int pid)
    {
        var status = Status(pid);
        var helpers = Children(pid).Select(Status).Where(s => s.Count > 0).ToList();
        return new MemoryReading(Mb(status, "VmRSS"), Mb(status, "RssAnon"), Mb(status, "RssFile"), Mb(status, "RssShmem"), Rollup(pid, "Pss"),
            helpers.Count, helpers.Sum(h => Mb(h, "VmRSS")), LargestMappings(pid, 8));
    }

    /// <summary>Resident memory per mapped file (anonymous memory as one entry): what the RSS is made of.</summary>
    private static List<(string, double)> LargestMappings(int pid, int count)
    {
        var byName = new Dictionary<string, long>(StringComparer.Ordinal);
        string current = "";
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 5 && parts[0].Contains('-', StringComparison.Ordinal) && !parts[0].EndsWith(':'))
                current = parts.Length == 6 ? parts[5].Trim() : "[anonymous]";
            else if (parts.Length >= 2 && parts[0] == "Rss:")
                byName[current] = byName.GetValueOrDefault(current) + long.Parse(parts[1], CultureInfo.InvariantCulture);
        }
        return byName.OrderByDescending(kv => kv.Value).Take(count)
            .Select(kv => (kv.Key.StartsWith('/') ? Path.GetFileName(kv.Key) : kv.Key, kv.Value / 1024.0)).ToList();
    }

    private static double Rollup(int pid, string key)
    {
        var line = File.ReadLines($"/proc/{pid}/smaps_rollup").FirstOrDefault(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    private static Dictionary<string, string> Status(int pid)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                int colon = line.IndexOf(':');
                if (colon > 0) fields[line[..colon]] = line[(colon + 1)..].Trim();
            }
        }
        catch (IOException)
        {
            // the process went away between listing and reading
        }
        return fields;
    }

    private static IEnumerable<int> Children(int pid)
    {
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            string text;
            try { text = File.ReadAllText(Path.Combine(task, "children")); } catch (IOException) { continue; }
            foreach (var child in text.Split(' ', StringSplitOptions.RemoveEmptyEntries)) yield return int.Parse(child, CultureInfo.InvariantCulture);
        }
    }

    private static double Mb(Dictionary<string, string> status, string key) =>
        status.TryGetValue(key, out var value) ? long.Parse(value.Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0 : 0;
}
