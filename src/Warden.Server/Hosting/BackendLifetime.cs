using Microsoft.Extensions.Hosting;
using Warden.Core.Execution;

namespace Warden.Server.Hosting;

/// <summary>
/// Starts the selected backend (and the warm pool's refilling) before the server accepts requests, so a host that cannot sandbox fails at start-up
/// with the reason, not at the first request. The backend is disposed (slots, cgroups, mounts removed) with the container.
/// </summary>
internal sealed class BackendLifetime(ExecutionEngine engine) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => engine.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
