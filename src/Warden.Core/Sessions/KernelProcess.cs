using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Warden.Core.Execution;
using Warden.Core.Sandboxing;

namespace Warden.Core.Sessions;

/// <summary>
/// One incarnation of a session's kernel: the sandbox running the driver and the line-delimited JSON channel to it
/// (requests on the driver's stdin, messages on its stdout; see <c>Sessions/Kernels/README.md</c>).
/// </summary>
internal sealed class KernelProcess : IAsyncDisposable
{
    /// <summary>A driver line longer than this is a protocol violation (the largest legitimate ones are base64 images).</summary>
    private const long MaxLineBytes = 256L << 20;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _reader;
    private CellRun? _current;
    private int _disposed;

    private KernelProcess(ISessionSandbox sandbox)
    {
        Sandbox = sandbox;
        _reader = Task.Run(ReadLoopAsync);
    }

    public ISessionSandbox Sandbox { get; }

    /// <summary>Completes when the driver's stdout closed: the kernel is gone.</summary>
    public Task Gone => _reader;

    public static async Task<KernelProcess> StartAsync(ISessionBackend backend, KernelDefinition kernel, SessionLimits limits, string name,
        TimeSpan startTimeout, CancellationToken cancellationToken, Networking.SandboxEgress? egress = null)
    {
        var command = new SandboxCommand(kernel.Argv, kernel.Environment, []) { Egress = egress };
        var spec = new SessionSpec(name, command, limits.Sandbox, kernel.SupportFiles,
            KernelDefinition.SupportDirectory);
        var sandbox = await backend.StartSessionAsync(spec, cancellationToken).ConfigureAwait(false);
        var process = new KernelProcess(sandbox);
        try
        {
            await Task.WhenAny(process._ready.Task, process._reader).WaitAsync(startTimeout, cancellationToken).ConfigureAwait(false);
            if (!process._ready.Task.IsCompleted)
                throw new KernelStartException($"The {kernel.Language} kernel exited during start-up: {Tail(sandbox.RecentErrors)}");
            return process;
        }
        catch (TimeoutException)
        {
            var errors = sandbox.RecentErrors;
            await process.DisposeAsync().ConfigureAwait(false);
            throw new KernelStartException($"The {kernel.Language} kernel did not start within {startTimeout.TotalSeconds} s. {Tail(errors)}");
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends the cell to the driver; its messages go to <paramref name="run"/> until it completes.</summary>
    public async Task BeginAsync(CellRun run, string code, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _current, run);
        if (_reader.IsCompleted) run.Complete("lost");
        var buffer = new ArrayBufferWriter<byte>(code.Length + 64);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("op", "execute");
            json.WriteString("id", run.Id);
            json.WriteString("code", code);
            json.WriteEndObject();
        }
        buffer.Write("\n"u8);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Sandbox.Input.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
            await Sandbox.Input.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException)
        {
            run.Complete("lost");
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public void End(CellRun run) => Interlocked.CompareExchange(ref _current, null, run);

    private async Task ReadLoopAsync()
    {
        var reader = PipeReader.Create(Sandbox.Output, new StreamPipeReaderOptions(bufferSize: 65536, leaveOpen: true));
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                while (buffer.PositionOf((byte)'\n') is { } end)
                {
                    await HandleAsync(buffer.Slice(0, end)).ConfigureAwait(false);
                    buffer = buffer.Slice(buffer.GetPosition(1, end));
                }
                if (buffer.Length > MaxLineBytes) break;
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            Volatile.Read(ref _current)?.Complete("lost");
        }
    }

    private async ValueTask HandleAsync(ReadOnlySequence<byte> line)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(line); }
        catch (JsonException) { return; }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var typeElement)) return;
            var type = typeElement.GetString();
            if (type == "ready")
            {
                _ready.TrySetResult();
                return;
            }
            var run = Volatile.Read(ref _current);
            if (run is null || !root.TryGetProperty("id", out var id) || id.GetString() != run.Id) return;
            switch (type)
            {
                case "stream":
                    await run.AcceptAsync(new StreamOutput(Str(root, "name") == "stderr" ? "stderr" : "stdout", Str(root, "text"))).ConfigureAwait(false);
                    break;
                case "display":
                    await run.AcceptAsync(new DisplayDataOutput(Obj(root, "data"), Obj(root, "metadata"))).ConfigureAwait(false);
                    break;
                case "result":
                    await run.AcceptAsync(new ExecuteResultOutput(run.ExecutionCount, Obj(root, "data"), Obj(root, "metadata"))).ConfigureAwait(false);
                    break;
                case "error":
                    var traceback = root.TryGetProperty("traceback", out var tb) && tb.ValueKind == JsonValueKind.Array
                        ? tb.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String ? t.GetString() ?? "" : t.ToString()).ToArray()
                        : [];
                    await run.AcceptAsync(new ErrorOutput(Str(root, "ename"), Str(root, "evalue"), traceback)).ConfigureAwait(false);
                    break;
                case "done":
                    run.Complete(Str(root, "status") == "ok" ? "ok" : "error");
                    break;
            }
        }
    }

    private static string Str(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";

    private static JsonElement Obj(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value.Clone() : EmptyObject;

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    private static string Tail(string text) => text.Length > 2000 ? text[^2000..].Trim() : text.Trim();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await Sandbox.DisposeAsync().ConfigureAwait(false);
        await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _writeLock.Dispose();
    }
}
