using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Warden.Core.Cgroups;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Processes;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>A bwrap sandbox on a leased slot. Each <see cref="RunAsync"/> consumes the slot's parked helper.</summary>
internal sealed class BwrapSandbox(BubblewrapBackend backend, SandboxSlot slot) : ISandbox
{
    private int _disposed;

    public string WorkspacePath => BwrapArguments.Workspace;

    public ValueTask WriteFilesAsync(IEnumerable<SourceFile> files, CancellationToken cancellationToken)
    {
        foreach (var file in files)
        {
            var relative = WorkspacePaths.Validate(file.Name);
            var hostPath = Path.Combine(slot.HostWorkspace, relative);
            var directory = Path.GetDirectoryName(hostPath)!;
            if (!Directory.Exists(directory))
            {
                Directory.CreateDirectory(directory);
                for (var d = directory; d.Length > slot.HostWorkspace.Length; d = Path.GetDirectoryName(d)!) Own(d);
            }
            File.WriteAllText(hostPath, file.Content, new UTF8Encoding(false));
            Own(hostPath);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<(IReadOnlyList<OutputFile> Files, bool Truncated)> CollectFilesAsync(IReadOnlyDictionary<string, string> inputs,
        int maxFiles, long maxBytes, CancellationToken cancellationToken) =>
        ValueTask.FromResult(WorkspaceFiles.Collect(slot.HostWorkspace, inputs, maxFiles, maxBytes));

    private void Own(string path)
    {
        if (slot.Uid is int uid) Interop.Libc.lchown(path, uid, uid);
    }

    public async Task<ProcessOutcome> RunAsync(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken)
    {
        var helper = slot.Parked ?? await backend.ParkAsync(slot).ConfigureAwait(false);
        slot.Parked = null;
        var cgroup = slot.Cgroup;
        cgroup?.Apply(limits);
        cgroup?.Baseline();

        var stopwatch = Stopwatch.StartNew();
        using var wall = new CancellationTokenSource(limits.WallTime);
        using var kill = CancellationTokenSource.CreateLinkedTokenSource(wall.Token, cancellationToken);
        int outputHit = 0;
        void OnOutputLimit() { Interlocked.Exchange(ref outputHit, 1); kill.Cancel(); }
        var stdout = new CappedReader(limits.MaxOutputBytes, OnOutputLimit);
        var stderr = new CappedReader(limits.MaxOutputBytes, OnOutputLimit);

        var exit = helper.Process.WaitForExitAsync();
        var status = ReadStatusAsync(helper.Status);
        var drains = Task.WhenAll(stdout.DrainAsync(helper.Stdout, CancellationToken.None), stderr.DrainAsync(helper.Stderr, CancellationToken.None));

        await SendControlAsync(helper, limits, command).ConfigureAwait(false);
        var feed = FeedStdinAsync(helper.Stdin, command.Stdin);

        bool killed = false;
        using (kill.Token.Register(() => { helper.Process.Kill(); }))
        {
            try { await exit.WaitAsync(kill.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { killed = true; }
        }
        if (killed && cgroup is not null) await cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
        int waitStatus = await exit.ConfigureAwait(false);
        stopwatch.Stop();

        // bwrap's pid 1 takes every process of the sandbox with it, so the pipes close right after; the bound only
        // matters if something outlived the namespace, which the cgroup sweep below then removes.
        if (cgroup is not null && !cgroup.IsEmpty()) await cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
        await Task.WhenAny(drains, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
        await feed.ConfigureAwait(false);
        var (childStarted, childExit) = await status.ConfigureAwait(false);
        var counters = cgroup?.Read() ?? new CgroupCounters(0, TimeSpan.Zero, 0);

        int? exitCode = null, signal = null;
        int code = childExit ?? (WaitStatus.Exited(waitStatus) ? WaitStatus.ExitCode(waitStatus) : 128 + WaitStatus.TermSignal(waitStatus));
        if (childStarted && !killed)
        {
            // bwrap reports a child killed by signal N as 128+N, as shells do.
            if (code > 128 && code < 128 + 65) signal = code - 128; else exitCode = code;
        }
        else if (childStarted)
        {
            signal = 9;
        }

        var stderrBytes = stderr.ToArray();
        string? sandboxError = null;
        if (!childStarted && !killed)
            sandboxError = "the sandbox failed to start: " + Encoding.UTF8.GetString(stderrBytes).Trim();

        return new ProcessOutcome
        {
            Started = childStarted,
            ExitCode = exitCode,
            Signal = signal,
            WallTime = stopwatch.Elapsed,
            CpuTime = counters.CpuTime,
            PeakMemoryBytes = counters.PeakMemoryBytes,
            OomKills = counters.OomKills,
            WallTimeExceeded = killed && wall.IsCancellationRequested && outputHit == 0 && !cancellationToken.IsCancellationRequested,
            OutputLimitExceeded = outputHit != 0,
            Cancelled = killed && cancellationToken.IsCancellationRequested && outputHit == 0,
            Stdout = stdout.ToArray(),
            Stderr = stderrBytes,
            StdoutTruncated = stdout.Truncated,
            StderrTruncated = stderr.Truncated,
            SandboxError = sandboxError,
        };
    }

    private Task SendControlAsync(ParkedHelper helper, ResourceLimits limits, SandboxCommand command) =>
        helper.LaunchAsync(backend.ControlBlock(slot, limits, command, readOnlyBinds: null));

    private static async Task FeedStdinAsync(Stream stdin, byte[] data)
    {
        try
        {
            if (data.Length > 0) await stdin.WriteAsync(data).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // The program exited or closed stdin without reading it all: not an error.
        }
        finally
        {
            try { await stdin.DisposeAsync().ConfigureAwait(false); } catch (IOException) { }
        }
    }

    /// <summary>bwrap's --json-status-fd: <c>{"child-pid": N}</c> once the program is started, then <c>{"exit-code": N}</c>.</summary>
    private static async Task<(bool Started, int? ExitCode)> ReadStatusAsync(Stream status)
    {
        bool started = false;
        int? exitCode = null;
        try
        {
            using var reader = new StreamReader(status, Encoding.UTF8);
            var text = await reader.ReadToEndAsync().ConfigureAwait(false);
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                // bwrap writes one JSON object per document; they may share a line.
                foreach (var doc in line.Replace("}{", "}\n{").Split('\n'))
                {
                    using var json = JsonDocument.Parse(doc);
                    if (json.RootElement.TryGetProperty("child-pid", out _)) started = true;
                    if (json.RootElement.TryGetProperty("exit-code", out var code)) exitCode = code.GetInt32();
                }
            }
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
        }
        return (started, exitCode);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) await backend.ReleaseAsync(slot).ConfigureAwait(false);
    }
}
