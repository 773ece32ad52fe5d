using Warden.Core.Execution;
using Warden.Core.Limits;

namespace Warden.Core.Sandboxing;

/// <summary>
/// A sandbox with a private workspace. Commands run in it one after another (compile, then run) and see the same
/// workspace; disposing kills whatever is left and removes the workspace, the cgroup state and any processes.
/// </summary>
public interface ISandbox : IAsyncDisposable
{
    /// <summary>The workspace's path as the sandboxed program sees it.</summary>
    string WorkspacePath { get; }

    /// <summary>Places files in the workspace (owned by the sandbox user).</summary>
    ValueTask WriteFilesAsync(IEnumerable<SourceFile> files, CancellationToken cancellationToken);

    /// <summary>
    /// Reads back regular files the program created or changed, at most <paramref name="maxFiles"/> files and
    /// <paramref name="maxBytes"/> bytes in all; links, FIFOs, sockets and devices are reported as skipped, never opened
    /// through. Call only after the last run: every process the sandbox still has (a child that outlived a program's own
    /// exit report) is killed first, so nothing changes the workspace while it is read.
    /// </summary>
    ValueTask<CollectedFiles> CollectFilesAsync(IReadOnlyDictionary<string, string> inputs, int maxFiles, long maxBytes,
        CancellationToken cancellationToken);

    /// <summary>Runs one command under <paramref name="limits"/> and reports what the kernel saw.</summary>
    Task<ProcessOutcome> RunAsync(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken);
}

/// <summary>
/// A command to run inside a sandbox. The environment is exactly <see cref="Environment"/>: nothing is inherited.
/// <see cref="StdinStream"/> follows <see cref="Stdin"/> when given (interactive input); <see cref="OnOutput"/> sees
/// output chunks as they are read (the memory is only valid during the call).
/// </summary>
public sealed record SandboxCommand(IReadOnlyList<string> Argv, IReadOnlyDictionary<string, string> Environment, byte[] Stdin,
    Stream? StdinStream = null, Action<OutputStreamKind, ReadOnlyMemory<byte>>? OnOutput = null)
{
    /// <summary>
    /// For a command run with network (<see cref="Limits.ResourceLimits.Network"/>): the proxy and grant its egress
    /// network is served under. Without it such a command is refused: there is no other network to give it.
    /// </summary>
    public Networking.SandboxEgress? Egress { get; init; }
}

/// <summary>Raw facts about one sandboxed process; <see cref="Execution.OutcomeClassifier"/> turns them into a status.</summary>
public sealed record ProcessOutcome
{
    /// <summary>The program was started inside the sandbox (false: the sandbox itself failed to come up).</summary>
    public required bool Started { get; init; }
    public int? ExitCode { get; init; }
    public int? Signal { get; init; }
    public required TimeSpan WallTime { get; init; }
    public TimeSpan CpuTime { get; init; }
    public long PeakMemoryBytes { get; init; }
    public long OomKills { get; init; }
    /// <summary>Our wall clock fired and we killed the sandbox.</summary>
    public bool WallTimeExceeded { get; init; }
    /// <summary>The cgroup's CPU time reached the CPU limit and we killed the sandbox (backends without RLIMIT_CPU).</summary>
    public bool CpuTimeExceeded { get; init; }
    /// <summary>A stream reached the output cap and we killed the sandbox.</summary>
    public bool OutputLimitExceeded { get; init; }
    /// <summary>The caller cancelled (client went away, shutdown) and we killed the sandbox.</summary>
    public bool Cancelled { get; init; }
    public required byte[] Stdout { get; init; }
    public required byte[] Stderr { get; init; }
    public bool StdoutTruncated { get; init; }
    public bool StderrTruncated { get; init; }
    /// <summary>Why the sandbox could not run the program, when <see cref="Started"/> is false.</summary>
    public string? SandboxError { get; init; }
}
