using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Warden.Server.Observability;

/// <summary>
/// The process's own meter (<see cref="MeterName"/>), named as OpenTelemetry's process semantic conventions name them:
/// resident and virtual memory, CPU time by mode, threads, open file descriptors, uptime. .NET's built-in
/// <c>System.Runtime</c> meter adds the runtime's view (GC heap and collections, JIT, thread pool, exceptions, locks).
/// Read from the kernel at each scrape, so an idle server costs nothing between scrapes.
/// </summary>
public sealed class ProcessMetrics : IDisposable
{
    public const string MeterName = "Warden.Process";

    private readonly Meter _meter;
    private readonly Process _process = Process.GetCurrentProcess();
    private readonly Lock _refresh = new();

    public ProcessMetrics(IMeterFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _meter = factory.Create(MeterName);
        _meter.CreateObservableUpDownCounter("process.memory.usage", () => Refreshed().WorkingSet64, "By",
            "The amount of physical memory in use (resident set size).");
        _meter.CreateObservableUpDownCounter("process.memory.virtual", () => Refreshed().VirtualMemorySize64, "By",
            "The amount of committed virtual memory.");
        _meter.CreateObservableCounter("process.cpu.time", CpuTime, "s", "Total CPU seconds by mode (user, system).");
        _meter.CreateObservableUpDownCounter("process.thread.count", () => Refreshed().Threads.Count, description: "Process threads.");
        _meter.CreateObservableUpDownCounter("process.unix.file_descriptor.count", OpenFileDescriptors,
            description: "File descriptors the process has open.");
        _meter.CreateObservableGauge("process.uptime", () => (DateTime.Now - _process.StartTime).TotalSeconds, "s",
            "Seconds since the process started.");
    }

    private Process Refreshed()
    {
        lock (_refresh)
        {
            _process.Refresh();
            return _process;
        }
    }

    private IEnumerable<Measurement<double>> CpuTime()
    {
        var process = Refreshed();
        yield return new(process.UserProcessorTime.TotalSeconds, new KeyValuePair<string, object?>("cpu.mode", "user"));
        yield return new(process.PrivilegedProcessorTime.TotalSeconds, new KeyValuePair<string, object?>("cpu.mode", "system"));
    }

    private static int OpenFileDescriptors()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (IOException)
        {
            return 0;
        }
    }

    public void Dispose()
    {
        _meter.Dispose();
        _process.Dispose();
    }
}
