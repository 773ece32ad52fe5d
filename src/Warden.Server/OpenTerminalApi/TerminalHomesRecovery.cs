using Microsoft.Extensions.Hosting;
using Warden.Core.Workspaces;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// At start-up, removes what a crashed instance left of users' homes (mounts, loop devices, unfinished images). Runs
/// after <see cref="Hosting.BackendLifetime"/> (registered later): the backend has reaped the crashed instance's
/// sandboxes by then, so nothing of theirs still uses a home. At shutdown the terminals unmount their own homes.
/// </summary>
internal sealed class TerminalHomesRecovery(UserHomes homes) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => homes.RecoverAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
