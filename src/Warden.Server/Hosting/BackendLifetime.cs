using Microsoft.Extensions.Hosting;
using Warden.Core.Execution;

namespace Warden.Server.Hosting;

/// <summary>
/// Starts the selected backend (and the warm pool's refilling) before the server accepts requests, so a host that cannot sandbox fails at start-up
/// with the reason, not at the first request, and starts the first sandbox check in the background: a backend that
/// starts but whose sandboxes cannot run a program is reported by readiness and health once it finished (and logged). The backend is
/// disposed (slots, cgroups, mounts removed) with the container.
/// </summary>
public sealed class BackendLifetime(ExecutionEngine engine, SandboxCheck check) : IHostedService
{
    private volatile bool _started;

    /// <summary>The backend's slots (and the warm pool, when on) are up (readiness).</summary>
    public bool Started => _started;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await engine.StartAsync(cancellationToken);
        // The first sandbox check runs while the server starts listening, not before: it took about a second of the
        // start. Readiness waits for it; health answers from it once it is there.
        check.Peek();
        _started = true;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
