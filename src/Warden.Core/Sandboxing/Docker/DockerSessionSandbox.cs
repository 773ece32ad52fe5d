using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Warden.Core.Cgroups;
using Warden.Core.Interop;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>
/// A session's container. The program is the container's own process under tini (pid 1); its stdio is the container's,
/// attached before start as one hijacked stream: stdin one way, multiplexed stdout/stderr frames the other.
/// </summary>
internal sealed class DockerSessionSandbox : ISessionSandbox
{
    private const int ErrorTailBytes = 8192;
    private readonly DockerBackend _backend;
    private readonly string _id;
    private readonly string? _volume;
    private readonly int _initPid;
    private readonly ICgroup? _cgroup;
    private readonly UidLease _uid;
    private readonly NetworkStream _stdio;
    private readonly Pipe _stdout = new(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false));
    private readonly StringBuilder _errors = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _demux;
    private CgroupCounters? _final;
    private bool _oomKilled, _earlierOom;
    private int _disposed;

    public DockerSessionSandbox(DockerBackend backend, string id, string? volume, NetworkStream stdio, int initPid, ICgroup? cgroup, UidLease uid)
    {
        _backend = backend;
        _uid = uid;
        _id = id;
        _volume = volume;
        _stdio = stdio;
        _initPid = initPid;
        _cgroup = cgroup;
        Input = new WriteOnlyStream(stdio);
        Output = _stdout.Reader.AsStream();
        Exited = WaitForExitAsync();
        _demux = DemultiplexAsync();
    }

    public string Id => _id;

    /// <summary>The sandbox's egress network and grant, for its whole life; released (grant revoked) when it is destroyed.</summary>
    public Networking.EgressAttachment? Egress { get; set; }


    public Stream Input { get; }

    public Stream Output { get; }

    public Task Exited { get; }

    public string RecentErrors
    {
        get { lock (_errors) return _errors.ToString(); }
    }

    /// <summary>
    /// SIGINT to every process in the container's cgroup but its init. Sent from the host by pid rather than by an exec
    /// of kill inside: an exec is one more process, so it cannot start when the cell has used up the pids limit (or the
    /// memory) — exactly when an interrupt is needed — and it costs a round trip through the daemon. The pids come
    /// from the kernel (cgroup.procs), so the sandbox cannot steer the signal elsewhere. tini is spared, as bwrap spares
    /// its init: it forwards what it gets to its child, the kernel, which would see a second SIGINT, possibly inside its
    /// handling of the first. (Sessions run under the default runtime only, where these are the program's processes.)
    /// </summary>
    public ValueTask InterruptAsync(CancellationToken cancellationToken)
    {
        if (Exited.IsCompleted || _initPid <= 0) return ValueTask.CompletedTask;
        if (_cgroup is not null)
        {
            // Pinned by pidfd and checked against the cgroup again: a pid freed and reused by a host process in between is not signalled.
            CgroupSignals.SignalMembers(CgroupSignals.Reader(_cgroup.ProcsFiles), Libc.SIGINT, pid => pid == _initPid);
            return ValueTask.CompletedTask;
        }
        foreach (var pid in Processes.ProcessTree.Descendants(_initPid)) Libc.kill(pid, Libc.SIGINT);
        return ValueTask.CompletedTask;
    }

    /// <summary>SIGKILL to the container's init: its pid namespace goes with it, so every process of the session does.</summary>
    public async ValueTask KillAsync(CancellationToken cancellationToken)
    {
        await _backend.Engine.KillAsync(_id, cancellationToken).ConfigureAwait(false);
        try { await Exited.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false); }
        catch (TimeoutException) { }
    }

    public void ResetCounters()
    {
        if (_cgroup is null) return;
        try
        {
            // OOM kills of earlier cells (a child killed while the kernel survived) must not be taken for this cell's
            // when the container's death is judged by the daemon's OOMKilled flag, which covers the container's life.
            if (_cgroup.Read().OomKills > 0) Volatile.Write(ref _earlierOom, true);
            _cgroup.Baseline();
        }
        catch (IOException) { }
    }

    /// <summary>
    /// The container's cgroup while it runs. The daemon removes the cgroup as the container stops (unlike a bwrap slot's,
    /// which lives until the slot is destroyed), so the counters at the program's death are the ones taken as its
    /// output ended (see <see cref="SettleAsync"/>), with the daemon's own OOM verdict when the cgroup was already gone.
    /// </summary>
    public CgroupCounters ReadCounters()
    {
        if (!Exited.IsCompleted && _cgroup is not null)
        {
            try { return _cgroup.Read(); } catch (IOException) { }
        }
        var last = Volatile.Read(ref _final) ?? new CgroupCounters(0, TimeSpan.Zero, 0);
        return Volatile.Read(ref _oomKilled) && !Volatile.Read(ref _earlierOom) && last.OomKills == 0 ? last with { OomKills = 1 } : last;
    }

    /// <summary>
    /// Runs once the program's output has ended and before its reader sees the end: takes the last counters while the
    /// cgroup may still be there, waits for the container to stop and asks the daemon whether the kernel OOM-killed
    /// something in it. A session reads the counters as soon as it sees a lost kernel, so this ordering makes its
    /// memory_limit verdict deterministic.
    /// </summary>
    private async Task SettleAsync()
    {
        if (_cgroup is not null)
        {
            try { Volatile.Write(ref _final, _cgroup.Read()); } catch (IOException) { }
        }
        try
        {
            await Exited.WaitAsync(TimeSpan.FromSeconds(5), _closing.Token).ConfigureAwait(false);
            var state = await _backend.Engine.InspectAsync(_id, _closing.Token).ConfigureAwait(false);
            if ((bool?)state?["State"]?["OOMKilled"] == true) Volatile.Write(ref _oomKilled, true);
        }
        catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException or TimeoutException
                                      or System.Text.Json.JsonException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Completes when the container stopped (the program exited, was killed, or was OOM-killed).</summary>
    private async Task WaitForExitAsync()
    {
        try { await _backend.Engine.WaitAsync(_id, _closing.Token).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException)
        {
            // The daemon went away or the sandbox is being disposed: either way the program is gone to us.
        }
    }

    /// <summary>Docker's multiplexed stream: 8-byte headers (stream 1 = stdout, 2 = stderr; big-endian length), then the payload.</summary>
    private async Task DemultiplexAsync()
    {
        var header = new byte[8];
        var payload = new byte[64 * 1024];
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[Encoding.UTF8.GetMaxCharCount(payload.Length)];
        Exception? failure = null;
        try
        {
            while (await ReadExactlyOrEndAsync(header).ConfigureAwait(false))
            {
                int length = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
                bool stderr = header[0] == 2;
                while (length > 0)
                {
                    int n = await _stdio.ReadAsync(payload.AsMemory(0, Math.Min(length, payload.Length))).ConfigureAwait(false);
                    if (n == 0) return;
                    length -= n;
                    if (stderr)
                    {
                        int count = decoder.GetChars(payload, 0, n, chars, 0);
                        lock (_errors)
                        {
                            _errors.Append(chars, 0, count);
                            if (_errors.Length > ErrorTailBytes) _errors.Remove(0, _errors.Length - ErrorTailBytes);
                        }
                    }
                    else
                    {
                        // Flushing waits while the reader is behind: the kernel's output pipe fills and it blocks, as with bwrap.
                        var flush = await _stdout.Writer.WriteAsync(payload.AsMemory(0, n)).ConfigureAwait(false);
                        if (flush.IsCompleted || flush.IsCanceled) return;
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            failure = e is ObjectDisposedException ? null : e;
        }
        finally
        {
            await SettleAsync().ConfigureAwait(false);
            await _stdout.Writer.CompleteAsync(failure).ConfigureAwait(false);
        }
    }

    private async Task<bool> ReadExactlyOrEndAsync(byte[] buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await _stdio.ReadAsync(buffer.AsMemory(read)).ConfigureAwait(false);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _backend.ForgetSession(this);
        // Removing with force kills the container first; its volume can go once no container holds it.
        // The uid is the session's alone until nothing of it is left; a container that could not be removed keeps it.
        _backend.Release(_uid, await _backend.RemoveSessionAsync(_id, _volume).ConfigureAwait(false));
        if (Egress is { } egress) await egress.DisposeAsync().ConfigureAwait(false);
        await _closing.CancelAsync().ConfigureAwait(false);
        _stdio.Dispose();
        // A demultiplexer waiting for a reader that has gone (its kernel is being disposed too) must not wait forever.
        _stdout.Writer.CancelPendingFlush();
        try { await Task.WhenAll(_demux, Exited).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
        catch (TimeoutException) { }
        _closing.Dispose();
    }

    /// <summary>The program's stdin: writes go to the attached stream; reading is the demultiplexer's alone.</summary>
    private sealed class WriteOnlyStream(NetworkStream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.WriteAsync(buffer, cancellationToken);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.WriteAsync(buffer, offset, count, cancellationToken);
    }
}
