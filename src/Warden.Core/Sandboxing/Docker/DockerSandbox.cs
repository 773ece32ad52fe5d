using System.Buffers.Binary;
using System.Formats.Tar;
using System.Net.Sockets;
using System.Text;
using Warden.Core.Cgroups;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>One execution's container. Files go in through the archive API; each stage is an exec in the keeper.</summary>
internal sealed class DockerSandbox(DockerBackend backend, DockerKeeper keeper) : ISandbox
{
    private readonly List<SourceFile> _files = [];
    private DockerKeeper _keeper = keeper;
    private bool _uploaded;
    private long _largestFileBytes;
    private int _disposed;

    public string WorkspacePath => SandboxSpecBuilder.DefaultWorkspace;

    public ValueTask WriteFilesAsync(IEnumerable<SourceFile> files, CancellationToken cancellationToken)
    {
        foreach (var file in files)
        {
            WorkspacePaths.Validate(file.Name);
            _files.Add(file);
        }
        return ValueTask.CompletedTask;
    }

    public async Task<ProcessOutcome> RunAsync(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken)
    {
        var engine = backend.Engine;
        _largestFileBytes = Math.Max(_largestFileBytes, limits.MaxFileBytes);
        if (limits.Network != _keeper.Network && (!_uploaded || limits.Network))
        {
            // Pooled keepers have no network; a run granted network gets a container of its own. A compiled language's run
            // comes after its compile stage: the workspace (sources and binary) moves into the new keeper first. The old one
            // goes once the new one holds everything, so a failure leaves this sandbox one keeper to dispose, never two.
            var pooled = _keeper;
            var fresh = await backend.CreateKeeperAsync(limits, cancellationToken, command.Egress?.Proxy.Trust?.FilesForNewSandbox()).ConfigureAwait(false);
            try
            {
                if (_uploaded) await MoveWorkspaceAsync(pooled, fresh, limits, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
            {
                // The daemon could not carry the workspace (a tree past the archive budget): the run never started, and the
                // answer says so instead of a server error.
                backend.Discard(fresh);
                return new ProcessOutcome
                {
                    Started = false, WallTime = TimeSpan.Zero, Stdout = [], Stderr = [],
                    SandboxError = "The workspace could not be moved into a sandbox with network: " + e.Message,
                };
            }
            catch
            {
                backend.Discard(fresh);
                throw;
            }
            _keeper = fresh;
            backend.Discard(pooled);
        }
        if (!_uploaded)
        {
            await engine.PutArchiveAsync(_keeper.Id, SandboxSpecBuilder.DefaultWorkspace, Tar(_files, _keeper.User), cancellationToken).ConfigureAwait(false);
            _uploaded = true;
        }
        // Egress: the keeper's listener served under this command's grant for this stage only.
        await using var egress = limits.Network
            ? Networking.EgressAttachment.Attach(
                _keeper.Egress ?? throw new InvalidOperationException("A stage granted network runs only in a keeper made with network."),
                command.Egress ?? throw new InvalidOperationException("A command granted network needs its egress grant."))
            : null;
        // A keeper's binds were fixed when it was made; the exec gets the trust environment when the keeper has the files.
        var spec = backend.Spec(limits, command, _keeper.Volume, _keeper.User, _keeper.Network ? command.Egress?.Proxy.Trust?.Files : null);
        var resources = DockerRenderer.Resources(spec.Cgroup);
        if (!DockerKeeper.SameResources(resources, _keeper.Resources))
        {
            await engine.UpdateAsync(_keeper.Id, resources, cancellationToken).ConfigureAwait(false);
            _keeper.Resources = resources;
        }
        var cgroup = _keeper.Cgroup;
        SafeBaseline(cgroup);

        var exec = await engine.CreateExecAsync(_keeper.Id, DockerRenderer.Exec(spec), cancellationToken).ConfigureAwait(false);
        using var supervisor = new RunSupervisor(command, limits, cancellationToken);
        await using var stream = await engine.StartExecAttachedAsync(exec, cancellationToken).ConfigureAwait(false);
        supervisor.FeedStdin(stop => FeedStdinAsync(stream, command.Stdin, command.StdinStream, stop));
        var demux = DemultiplexAsync(stream, supervisor.Stdout, supervisor.Stderr);
        bool killed = await supervisor.WaitAsync(demux).ConfigureAwait(false);
        if (killed)
        {
            // The whole container goes: that is the only way to be sure every process of the stage is gone.
            await engine.KillAsync(_keeper.Id, CancellationToken.None).ConfigureAwait(false);
            await demux.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
        }
        await supervisor.StopAsync().ConfigureAwait(false);
        await supervisor.Feed.ConfigureAwait(false);
        // Nothing a stage started may outlive it (a daemonised child would keep running until the container is removed).
        if (!killed && cgroup is not null) await cgroup.KillAllButAsync(_keeper.OwnProcesses, CancellationToken.None).ConfigureAwait(false);

        var state = await engine.InspectExecAsync(exec, CancellationToken.None).ConfigureAwait(false);
        (int? ExitCode, int? Signal) status = state?["ExitCode"] is { } codeNode ? ShellStatus.Decode((int)codeNode) : (null, null);
        return supervisor.Outcome(started: true, killed, status, SafeRead(cgroup));
    }

    /// <summary>
    /// Carries the workspace from one keeper to the next through the daemon's archive API, re-owned by the new keeper's
    /// uid (<see cref="DockerArchiveFiles.RepackAsync"/>); at most the workspace's size plus headers is read.
    /// </summary>
    private async Task MoveWorkspaceAsync(DockerKeeper from, DockerKeeper to, ResourceLimits limits, CancellationToken cancellationToken)
    {
        if (from.Cgroup is { } cgroup) await cgroup.KillAllButAsync(from.OwnProcesses, CancellationToken.None).ConfigureAwait(false);
        var engine = backend.Engine;
        byte[] tar;
        await using (var archive = await engine.GetArchiveAsync(from.Id, SandboxSpecBuilder.DefaultWorkspace, cancellationToken).ConfigureAwait(false))
            tar = await DockerArchiveFiles.RepackAsync(archive, SandboxSpecBuilder.DefaultWorkspace.TrimStart('/'), to.User,
                Math.Min(limits.WorkspaceBytes + (16L << 20), 1L << 30), cancellationToken).ConfigureAwait(false);
        await engine.PutArchiveAsync(to.Id, SandboxSpecBuilder.DefaultWorkspace, tar, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Docker's multiplexed stream: 8-byte headers (stream 1 = stdout, 2 = stderr; big-endian length), then the payload.</summary>
    private static async Task DemultiplexAsync(NetworkStream stream, CappedReader stdout, CappedReader stderr)
    {
        var header = new byte[8];
        var payload = new byte[64 * 1024];
        try
        {
            while (await ReadExactlyOrEndAsync(stream, header).ConfigureAwait(false))
            {
                int length = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
                var target = header[0] == 2 ? stderr : stdout;
                while (length > 0)
                {
                    int n = await stream.ReadAsync(payload.AsMemory(0, Math.Min(length, payload.Length))).ConfigureAwait(false);
                    if (n == 0) return;
                    target.Append(payload.AsMemory(0, n));
                    length -= n;
                }
            }
        }
        catch (IOException)
        {
            // The container was killed under us: what arrived is the output.
        }
    }

    private static async Task<bool> ReadExactlyOrEndAsync(NetworkStream stream, byte[] buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(read)).ConfigureAwait(false);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    private static async Task FeedStdinAsync(NetworkStream stream, byte[] data, Stream? source, CancellationToken stop)
    {
        try
        {
            await StdinFeed.WriteAsync(stream, data, source, stop).ConfigureAwait(false);
            // Half-close: the program sees end-of-file on stdin while its output keeps flowing back.
            stream.Socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// The workspace files as a tar owned by the keeper's own uid (the daemon extracts it as root, keeping owners), the
    /// owner of its volume: no other execution's uid can read or change them.
    /// </summary>
    private static byte[] Tar(IEnumerable<SourceFile> files, SandboxUser user)
    {
        int uid = user.Uid, gid = user.Gid;
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            var directories = new HashSet<string>(StringComparer.Ordinal);
            foreach (var file in files)
            {
                var parts = file.Name.Split('/');
                for (int i = 1; i < parts.Length; i++)
                {
                    var dir = string.Join('/', parts[..i]) + "/";
                    if (!directories.Add(dir)) continue;
                    writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir) { Uid = uid, Gid = gid, Mode = (UnixFileMode)0b111_101_101 });
                }
                var entry = new PaxTarEntry(TarEntryType.RegularFile, file.Name)
                {
                    Uid = uid, Gid = gid, Mode = (UnixFileMode)0b110_100_100,
                    DataStream = new MemoryStream(new UTF8Encoding(false).GetBytes(file.Content)),
                };
                writer.WriteEntry(entry);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// Reads the workspace back through the archive API, once nothing but the keeper's own processes is left (a stage's
    /// daemonised child would change the files while the daemon archives them). See <see cref="DockerArchiveFiles"/>.
    /// </summary>
    public async ValueTask<CollectedFiles> CollectFilesAsync(IReadOnlyDictionary<string, string> inputs, int maxFiles, long maxBytes,
        CancellationToken cancellationToken)
    {
        if (_keeper.Cgroup is { } cgroup) await cgroup.KillAllButAsync(_keeper.OwnProcesses, CancellationToken.None).ConfigureAwait(false);
        try
        {
            await using var tar = await backend.Engine.GetArchiveAsync(_keeper.Id, SandboxSpecBuilder.DefaultWorkspace, cancellationToken).ConfigureAwait(false);
            return await DockerArchiveFiles.ReadAsync(tar, SandboxSpecBuilder.DefaultWorkspace.TrimStart('/'), inputs, maxFiles, maxBytes,
                DockerArchiveFiles.BudgetFor(maxBytes, _largestFileBytes), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // The daemon could not archive the workspace (a tree deeper than its walk handles): nothing to return, no 500.
            return new CollectedFiles([], [new SkippedFile(".", FileSkipReason.Unreadable)], Truncated: true);
        }
    }

    private static void SafeBaseline(ICgroup? cgroup)
    {
        try { cgroup?.Baseline(); } catch (IOException) { }
    }

    private static CgroupCounters SafeRead(ICgroup? cgroup)
    {
        try { return cgroup?.Read() ?? new CgroupCounters(0, TimeSpan.Zero, 0); }
        catch (IOException) { return new CgroupCounters(0, TimeSpan.Zero, 0); }
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) backend.Discard(_keeper);
        return ValueTask.CompletedTask;
    }
}
