using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Diagnostics;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Core.Pool;
using Warden.Core.Sandboxing;

namespace Warden.Core.Execution;

/// <summary>
/// Runs one request end to end: validate, resolve limits, wait for a slot (bounded), compile if needed, run, classify.
/// Every API surface and the CLI call this; none of them touches processes or limits itself.
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "A singleton for the process's life; _slots never creates a wait handle, and disposing it would fail requests still draining at shutdown.")]
public sealed partial class ExecutionEngine
{
    private readonly BackendSelector _backends;
    private readonly BackendStartup _startup;
    private readonly LanguageCatalog _languages;
    private readonly LimitPolicy _limits;
    private readonly WardenOptions _options;
    private readonly ILogger<ExecutionEngine> _logger;
    private readonly SemaphoreSlim _slots;

    private readonly ExecutionMetrics _metrics;
    private readonly Egress.EgressProxy _egress;

    public ExecutionEngine(BackendSelector backends, BackendStartup startup, LanguageCatalog languages, LimitPolicy limits, IOptions<WardenOptions> options,
        ExecutionStats stats, SandboxPool pool, ExecutionMetrics metrics, Egress.EgressProxy egress, ILogger<ExecutionEngine> logger)
    {
        _egress = egress;
        Pool = pool;
        _metrics = metrics;
        _backends = backends;
        _startup = startup;
        _languages = languages;
        _limits = limits;
        _options = options.Value;
        _logger = logger;
        Stats = stats;
        _slots = new SemaphoreSlim(_options.MaxConcurrent, _options.MaxConcurrent);
        metrics.Meter.CreateObservableGauge("warden.queue.depth", () => Stats.Queued, description: "Executions waiting for a free sandbox.");
        metrics.Meter.CreateObservableGauge("warden.sandboxes.active", () => Stats.Active, description: "Executions running in a sandbox now.");
        metrics.Meter.CreateObservableGauge("warden.pool.slots", PoolSlots,
            description: "Pre-started sandbox slots of the backend, by state (total: in circulation, idle, quarantined: out of it for good).");
        metrics.Meter.CreateObservableCounter("warden.slots.recycle_failures", RecycleFailures,
            description: "Failed tries to recycle a sandbox slot (retried, or ending in quarantine).");
    }

    private IEnumerable<System.Diagnostics.Metrics.Measurement<int>> PoolSlots()
    {
        if (!_startup.Started || Backend.Status().Slots is not { } slots) yield break;
        var backend = new KeyValuePair<string, object?>("backend", Backend.Name);
        foreach (var (value, state) in new[] { (slots.Total, "total"), (slots.Idle, "idle"), (slots.Quarantined, "quarantined") })
            yield return new(value, new KeyValuePair<string, object?>("state", state), backend);
    }

    private IEnumerable<System.Diagnostics.Metrics.Measurement<long>> RecycleFailures()
    {
        if (!_startup.Started || Backend.Status().Slots is not { } slots) yield break;
        yield return new(slots.RecycleFailures, new KeyValuePair<string, object?>("backend", Backend.Name));
    }

    public ExecutionStats Stats { get; }

    public ISandboxBackend Backend => _backends.Selected;

    /// <summary>Warm sandboxes of the selected backend; runs go cold while it is not started or has none ready.</summary>
    public SandboxPool Pool { get; }

    /// <summary>Starts the selected backend (through its one owner, <see cref="BackendStartup"/>), then the warm pool's refilling.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _startup.StartAsync(cancellationToken).ConfigureAwait(false);
        Pool.Start();
    }

    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var language = _languages.Resolve(request.Language);
        var files = CollectFiles(request, language, out var mainFile);
        var stdin = Encoding.UTF8.GetBytes(request.Stdin ?? "");
        if (stdin.Length > _limits.Options.MaxStdinBytes)
            throw new PayloadTooLargeException($"stdin is {stdin.Length} bytes; the limit is {_limits.Options.MaxStdinBytes}.");
        var egressPolicy = Networking.EgressRequest.Resolve(_egress.Ceiling, request.Network, request.NetworkAllow);
        var limits = _limits.Resolve(request.Limits, egressPolicy is not null);
        var args = request.Args ?? [];
        if (args.Count > 256 || args.Any(a => a.Length > 4096))
            throw new InvalidRequestException("args: at most 256 arguments of at most 4096 characters each.", "args");

        using var span = WardenTracing.Source.StartActivity(WardenTracing.Spans.Execute);
        span?.SetTag("warden.language", language.Name);
        var total = Stopwatch.StartNew();
        await _startup.StartAsync(cancellationToken).ConfigureAwait(false);
        using (WardenTracing.Source.StartActivity(WardenTracing.Spans.Queue))
            await AdmitAsync(cancellationToken).ConfigureAwait(false);
        long queuedMs = total.ElapsedMilliseconds;
        Stats.Start();
        try
        {
            // A warm sandbox when this language and limits profile can have one; a compiled language needs two runs.
            await using var sandbox = (language.Definition.IsCompiled ? null : await Pool.TakeAsync(language, limits, cancellationToken).ConfigureAwait(false))
                ?? await _backends.Selected.AcquireAsync(cancellationToken).ConfigureAwait(false);
            var id = Guid.CreateVersion7().ToString("N");
            var backend = _backends.Selected.Name;
            // Per execution: the run stage's egress network is served under this grant; revoked when the run ends, so no
            // upstream connection outlives it.
            var grant = egressPolicy is null ? null : _egress.CreateGrant(request.Principal ?? "anonymous", id, egressPolicy);
            using var revoke = new GrantRevocation(grant);
            try
            {
                await sandbox.WriteFilesAsync(files, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException && !cancellationToken.IsCancellationRequested)
            {
                // The host could not lay the program into the workspace (e.g. a container without CAP_CHOWN): the sandbox is
                // broken, not the request, and the answer says so instead of failing the request.
                return Finish(new ExecutionResult
                {
                    ExecutionId = id, Language = language.Name, Backend = backend, Limits = limits, QueuedMs = queuedMs,
                    Run = new StageResult { Status = ExecutionStatus.SandboxError, Error = "The sandbox's workspace could not be prepared: " + e.Message },
                }, total);
            }
            var workspace = sandbox.WorkspacePath;
            var observer = request.Output;

            StageResult? compile = null;
            if (language.Definition.IsCompiled)
            {
                var compileLimits = _limits.ResolveCompile();
                var compileCommand = new SandboxCommand(language.Expand(language.Definition.Compile!, workspace, mainFile),
                    Environment(language, compile: true), [],
                    OnOutput: observer is null ? null : (kind, data) => observer(new OutputChunk(Compile: true, kind, data)));
                using (var stage = WardenTracing.Source.StartActivity(WardenTracing.Spans.Compile))
                {
                    compile = OutcomeClassifier.Classify(
                        await sandbox.RunAsync(compileCommand, compileLimits, cancellationToken).ConfigureAwait(false), compileLimits, compileStage: true);
                    stage?.SetTag("warden.status", compile.Status.ToWireName());
                }
                if (compile.Status != ExecutionStatus.Success)
                {
                    var failed = new ExecutionResult
                    {
                        ExecutionId = id, Language = language.Name, Compile = compile, Backend = backend, Limits = limits, QueuedMs = queuedMs,
                        Run = new StageResult { Status = compile.Status, Error = compile.Error ?? "compilation failed" },
                    };
                    return Finish(failed, total);
                }
            }

            var argv = language.Expand(language.Definition.Run, workspace, mainFile).Concat(args).ToArray();
            var command = new SandboxCommand(argv, Environment(language, compile: false), stdin, request.StdinStream,
                observer is null ? null : (kind, data) => observer(new OutputChunk(Compile: false, kind, data)))
            {
                Egress = grant is null ? null : new Networking.SandboxEgress(_egress, grant),
            };
            StageResult run;
            using (var stage = WardenTracing.Source.StartActivity(WardenTracing.Spans.Run))
            {
                run = OutcomeClassifier.Classify(await sandbox.RunAsync(command, limits, cancellationToken).ConfigureAwait(false), limits, compileStage: false);
                stage?.SetTag("warden.status", run.Status.ToWireName());
            }
            grant?.Revoke();
            var collected = CollectedFiles.None;
            if (request.CollectFiles)
            {
                using var stage = WardenTracing.Source.StartActivity(WardenTracing.Spans.Collect);
                var inputs = files.ToDictionary(f => f.Name, f => f.Content, StringComparer.Ordinal);
                collected = await sandbox.CollectFilesAsync(inputs, _limits.Options.MaxOutputFiles, _limits.Options.MaxOutputFilesBytes,
                    cancellationToken).ConfigureAwait(false);
            }
            return Finish(new ExecutionResult
            {
                ExecutionId = id, Language = language.Name, Compile = compile, Run = run, Files = collected.Files, FilesTruncated = collected.Truncated,
                FilesSkipped = collected.Skipped, Backend = backend, Limits = limits, QueuedMs = queuedMs, Egress = grant?.Snapshot(),
            }, total);
        }
        finally
        {
            Stats.Stop();
            _slots.Release();
        }
    }

    /// <summary>Revokes a grant however the execution ends (a failed compile, an exception, cancellation).</summary>
    private readonly struct GrantRevocation(Egress.EgressGrant? grant) : IDisposable
    {
        public void Dispose() => grant?.Revoke();
    }

    private ExecutionResult Finish(ExecutionResult result, Stopwatch total)
    {
        result = result with { TotalMs = total.ElapsedMilliseconds };
        if (Activity.Current is { Source.Name: WardenTracing.SourceName, OperationName: WardenTracing.Spans.Execute } span)
        {
            span.SetTag("warden.execution_id", result.ExecutionId);
            span.SetTag("warden.backend", result.Backend);
            span.SetTag("warden.status", result.Status.ToWireName());
            // A program that fails or breaks a limit is an outcome, not a failure of Warden's; a sandbox that failed is.
            if (result.Status == ExecutionStatus.SandboxError) span.SetStatus(ActivityStatusCode.Error, result.Status.ToWireName());
        }
        Stats.Record(result, total.ElapsedMilliseconds);
        _metrics.Finished(result);
        Log.Finished(_logger, result.ExecutionId, result.Language, result.Status.ToWireName(), result.Run.ExecutionTimeMs);
        return result;
    }

    /// <summary>Waits for a free slot; with <see cref="WardenOptions.MaxQueue"/> already waiting, rejects at once.</summary>
    private async Task AdmitAsync(CancellationToken cancellationToken)
    {
        if (_slots.Wait(0, CancellationToken.None)) return;
        // The sandbox check (health, readiness, right after start) holds a slot for one tiny, bounded run: a request that
        // finds it in the way waits for it instead of being turned away (with MaxConcurrent 1 and no queue that was a
        // 503 for whoever came first after start-up).
        if (Volatile.Read(ref _checkHolding) is { } check)
        {
            await check.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (_slots.Wait(0, CancellationToken.None)) return;
        }
        if (Stats.Queued >= _options.MaxQueue)
        {
            Stats.Reject();
            _metrics.Rejected("capacity");
            throw new CapacityExceededException(
                $"All {_options.MaxConcurrent} sandboxes are busy and {_options.MaxQueue} executions are already waiting.", TimeSpan.FromSeconds(1));
        }
        Stats.EnterQueue();
        try { await _slots.WaitAsync(cancellationToken).ConfigureAwait(false); }
        finally { Stats.LeaveQueue(); }
    }

    private List<SourceFile> CollectFiles(ExecutionRequest request, InstalledLanguage language, out string mainFile)
    {
        var files = new List<SourceFile>();
        mainFile = language.Definition.MainFileName;
        if (request.Files is { Count: > 0 })
        {
            if (request.Files.Count > 64) throw new InvalidRequestException("At most 64 files per execution.", "files");
            foreach (var f in request.Files) WorkspacePaths.Validate(f.Name);
            if (request.Files.Select(f => f.Name).Distinct(StringComparer.Ordinal).Count() != request.Files.Count)
                throw new InvalidRequestException("File names must be unique.", "files");
            // 'a' and 'a/b' cannot both exist: one name would have to be a file and a directory at once.
            var names = request.Files.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var name in names)
            {
                for (int slash = name.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = name.IndexOf('/', slash + 1))
                {
                    if (names.Contains(name[..slash]))
                        throw new InvalidRequestException($"File '{name[..slash]}' is also a directory on the way to '{name}'; a name is a file or a directory, not both.", "files");
                }
            }
            var main = request.MainFile ?? request.Files[0].Name;
            if (request.Files.All(f => f.Name != main)) throw new InvalidRequestException($"main_file '{main}' is not among files.", "main_file");
            mainFile = main;
            files.AddRange(request.Files);
            if (!string.IsNullOrEmpty(request.Code)) throw new InvalidRequestException("Give either code or files, not both.", "code");
        }
        else
        {
            if (string.IsNullOrWhiteSpace(request.Code)) throw new InvalidRequestException("code is empty.", "code");
            files.Add(new SourceFile(mainFile, request.Code));
        }
        long size = files.Sum(f => (long)Encoding.UTF8.GetByteCount(f.Content));
        if (size > _limits.Options.MaxCodeBytes)
            throw new PayloadTooLargeException($"The code is {size} bytes; the limit is {_limits.Options.MaxCodeBytes} (Warden:Limits:MaxCodeBytes).");
        var mainName = mainFile;
        if (files.Any(f => string.IsNullOrWhiteSpace(f.Content) && f.Name == mainName))
            throw new InvalidRequestException("The main file is empty.", "code");
        return files;
    }

    private static Dictionary<string, string> Environment(InstalledLanguage language, bool compile) => SandboxEnvironment.For(language, compile);

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.ExecutionFinished, LogLevel.Debug, "Execution {ExecutionId} ({Language}) finished: {Status} in {Milliseconds} ms")]
        public static partial void Finished(ILogger logger, string executionId, string language, string status, long milliseconds);
    }
}
