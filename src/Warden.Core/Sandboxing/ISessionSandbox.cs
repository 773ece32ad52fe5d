using Warden.Core.Cgroups;
using Warden.Core.Limits;

namespace Warden.Core.Sandboxing;

/// <summary>
/// What a long-lived sandbox runs: one command (a kernel driver) under session-wide limits, plus read-only support
/// files (the driver itself) placed at <see cref="SupportDirectory"/> inside the sandbox. Without
/// <see cref="Workspace"/> the sandbox gets a fresh tmpfs workspace and a pool uid; with it, a persistent directory.
/// </summary>
public sealed record SessionSpec(
    string Name,
    SandboxCommand Command,
    ResourceLimits Limits,
    IReadOnlyDictionary<string, byte[]> SupportFiles,
    string SupportDirectory = "/opt/warden",
    PersistentWorkspace? Workspace = null);

/// <summary>
/// A host directory that outlives the sandbox (a user's home), bound read-write at <see cref="SandboxPath"/>. The
/// sandbox runs as <see cref="Uid"/>, the directory's owner, which belongs to this workspace alone: no other
/// sandbox ever runs under it, so host permissions keep every other sandbox out even if a mount went wrong.
/// </summary>
/// <param name="Gid">The host gid the sandbox runs as; null: <see cref="Uid"/> (a group of its own). A home shared by the
/// users of one policy is that policy's group's (setgid, group-writable): each user keeps a uid of their own, and only
/// the sandboxes of that policy's users run with its gid.</param>
public sealed record PersistentWorkspace(string HostDirectory, int Uid, string SandboxPath, int? Gid = null)
{
    /// <summary>The gid the sandbox's processes run as on the host.</summary>
    public int HostGid => Gid ?? Uid;
}

/// <summary>
/// A running long-lived sandbox on its own slot (host uid, cgroup, workspace), not taken from the execution pool.
/// The program talks over its stdin (<see cref="Input"/>) and stdout (<see cref="Output"/>); what it writes to
/// stderr is kept (bounded) for diagnostics. Disposing kills every process and removes every host resource.
/// </summary>
public interface ISessionSandbox : IAsyncDisposable
{
    /// <summary>The program's stdin.</summary>
    Stream Input { get; }

    /// <summary>The program's stdout.</summary>
    Stream Output { get; }

    /// <summary>Completes when the sandbox's program has exited (by itself, killed, or OOM).</summary>
    Task Exited { get; }

    /// <summary>The last few KB the program wrote to stderr (start-up failures, driver crashes).</summary>
    string RecentErrors { get; }

    /// <summary>SIGINT to every process of the program (the kernel and its children), never to the isolation tool.</summary>
    ValueTask InterruptAsync(CancellationToken cancellationToken);

    /// <summary>SIGKILL to everything in the sandbox; the slot stays until disposed.</summary>
    ValueTask KillAsync(CancellationToken cancellationToken);

    /// <summary>Starts a new accounting period for CPU time, peak memory and OOM kills (per cell).</summary>
    void ResetCounters();

    /// <summary>CPU time, peak memory and OOM kills since <see cref="ResetCounters"/>; zeros without cgroups.</summary>
    CgroupCounters ReadCounters();
}
