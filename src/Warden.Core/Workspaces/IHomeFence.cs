namespace Warden.Core.Workspaces;

/// <summary>
/// Who may mount a user's home. Where several replicas reach one homes directory, two of them mounting the same image at
/// once would be two writers of one ext4 filesystem (corruption): the fence is a lease, held by one live replica at a time,
/// that <see cref="UserHomes"/> enters (under the user's lock) before it mounts and leaves after it unmounts.
/// </summary>
public interface IHomeFence
{
    /// <summary>Takes (or confirms) this instance's lease on the home <paramref name="key"/>; returns its generation, which
    /// grows every time the lease is taken, so an older holder's release cannot end a newer one's lease.</summary>
    /// <exception cref="HomeFencedException">Another live instance holds the lease.</exception>
    ValueTask<long> EnterAsync(string key, CancellationToken cancellationToken);

    /// <summary>Gives the lease of <paramref name="generation"/> up (nothing if it has been taken over since).</summary>
    ValueTask ExitAsync(string key, long generation, CancellationToken cancellationToken);
}

/// <summary>A server on its own: its state directory lock already makes it the only one mounting its homes.</summary>
public sealed class LocalHomeFence : IHomeFence
{
    public static readonly LocalHomeFence Instance = new();

    public ValueTask<long> EnterAsync(string key, CancellationToken cancellationToken) => ValueTask.FromResult(0L);

    public ValueTask ExitAsync(string key, long generation, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

/// <summary>The home's lease is held by another live instance: it serves this user now.</summary>
public sealed class HomeFencedException(string message) : Exception(message);
