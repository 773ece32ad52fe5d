using Warden.Core.Sandboxing;

namespace Warden.Core.Tests.Sandboxing;

/// <summary>A backend that runs nothing: it only declares capabilities and counts its starts.</summary>
internal class StubBackend(string name, BackendCapabilities capabilities, bool canRun = true) : ISandboxBackend
{
    private int _starts;

    public string Name => name;

    public BackendCapabilities Capabilities => capabilities;

    public int Starts => Volatile.Read(ref _starts);

    /// <summary>Makes the next start fail (once), as a host that cannot start the backend does.</summary>
    public Exception? FailNextStart { get; set; }

    public BackendProbe Probe() => new(name, [new ProbeCheck("stub", canRun, canRun ? "ok" : "cannot run here")]);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _starts);
        // Long enough that concurrent callers overlap with it.
        await Task.Delay(50, cancellationToken);
        if (FailNextStart is { } failure)
        {
            FailNextStart = null;
            throw failure;
        }
    }

    public ValueTask<ISandbox> AcquireAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("The stub runs nothing.");

    public BackendStatus Status() => new() { Backend = name, Instance = "stub", CgroupVersion = "none" };
}

/// <summary>A stub with long-lived sandboxes (it starts none).</summary>
internal sealed class StubSessionBackend(string name) : StubBackend(name, new BackendCapabilities { LongLivedSandboxes = true, PersistentHomes = true }),
    ISessionBackend
{
    public ValueTask<ISessionSandbox> StartSessionAsync(SessionSpec spec, CancellationToken cancellationToken) =>
        throw new InvalidOperationException("The stub runs nothing.");
}
