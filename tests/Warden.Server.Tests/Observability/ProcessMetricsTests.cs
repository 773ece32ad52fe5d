using System.Globalization;
using System.Text.RegularExpressions;

namespace Warden.Server.Tests.Observability;

/// <summary><c>/metrics</c> carries the process's own meter and .NET's runtime meter next to Warden's.</summary>
public sealed partial class ProcessMetricsTests
{
    [Fact]
    public async Task Metrics_ShowProcessAndRuntimeMeters_WithTheProcesssRealValues()
    {
        await using var server = await WardenTestServer.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "echo one" });

        var text = await server.Client.GetStringAsync("/metrics", ct);

        // The test host is this process: its resident memory, as the kernel reports it, is what /metrics shows (±25 %).
        var rss = Value(text, "process_memory_usage_bytes", null);
        var kernelRss = KernelRssBytes();
        Assert.InRange(rss, kernelRss * 0.75, kernelRss * 1.25);
        Assert.True(Value(text, "process_cpu_time_seconds_total", "cpu_mode=\"user\"") > 0);
        Assert.True(Value(text, "process_thread_count", null) >= 2);
        Assert.True(Value(text, "process_unix_file_descriptor_count", null) >= 3);
        Assert.True(Value(text, "process_uptime_seconds", null) > 0);
        Assert.Contains("# TYPE process_cpu_time_seconds_total counter", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE process_memory_usage_bytes gauge", text, StringComparison.Ordinal);
        // .NET's System.Runtime meter: the GC and the runtime's timers.
        Assert.True(Value(text, "dotnet_gc_heap_total_allocated_bytes_total", null) > 0);
        Assert.True(RuntimeSample().IsMatch(text), text);
        Assert.Contains("# TYPE dotnet_gc_collections_total counter", text, StringComparison.Ordinal);
    }

    private static double KernelRssBytes()
    {
        var line = File.ReadLines("/proc/self/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static double Value(string text, string name, string? labels)
    {
        var prefix = labels is null ? name + " " : $"{name}{{{labels}}} ";
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        Assert.True(line is not null, $"no sample {prefix.Trim()} in:\n{text}");
        return double.Parse(line![prefix.Length..], CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^dotnet_timer_count [0-9]+$", RegexOptions.Multiline)]
    private static partial Regex RuntimeSample();
}
