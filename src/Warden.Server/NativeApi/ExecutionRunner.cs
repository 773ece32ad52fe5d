using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Warden.Core.Execution;
using Warden.Server.Auth;
using Warden.Server.History;
using Warden.Server.Hosting;

namespace Warden.Server.NativeApi;

/// <summary>
/// The one path from an HTTP surface (execute, stream, WebSocket) to the engine: runs under the request's token and the
/// shutdown grace, and records every outcome (result or refusal) in the audit log and history before it answers.
/// </summary>
internal sealed class ExecutionRunner(ExecutionEngine engine, ExecutionRecorder recorder, ShutdownGrace shutdown, TimeProvider time)
{
    public async Task<ExecutionResult> RunAsync(HttpContext context, ExecutionRequest request, string transport, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(context);
        var started = time.GetUtcNow();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, shutdown.Token);
        try
        {
            var result = await engine.ExecuteAsync(request, linked.Token);
            await recorder.RecordAsync(Record(caller, request, transport, started) with
            {
                Id = result.ExecutionId,
                Language = result.Language,
                Backend = result.Backend,
                Status = result.Status.ToWireName(),
                HttpStatus = 200,
                ExitCode = result.Run.ExitCode,
                Signal = result.Run.Signal,
                TimeoutSeconds = result.Limits?.WallTime.TotalSeconds,
                CpuTimeSeconds = result.Limits?.CpuTime.TotalSeconds,
                MemoryMb = result.Limits is { } l ? (int)(l.MemoryBytes >> 20) : null,
                MaxProcesses = result.Limits?.MaxProcesses,
                MaxOutputBytes = result.Limits?.MaxOutputBytes,
                Network = result.Limits?.Network ?? false,
                QueuedMs = result.QueuedMs,
                CompileMs = result.Compile?.ExecutionTimeMs,
                RunMs = result.Run.ExecutionTimeMs,
                TotalMs = result.TotalMs,
                CpuMs = result.Run.CpuTimeMs + (result.Compile?.CpuTimeMs ?? 0),
                MemoryUsedMb = result.Run.MemoryUsedMb,
                StdoutBytes = result.Run.Stdout.Length,
                StderrBytes = result.Run.Stderr.Length,
                Error = result.Run.Error,
            });
            return result;
        }
        catch (OperationCanceledException) when (shutdown.Token.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Still queued when the grace period ran out.
            var refused = new CapacityExceededException("The server is shutting down.", TimeSpan.FromSeconds(5));
            await recorder.RecordAsync(Record(caller, request, transport, started) with
            {
                Status = refused.Kind,
                HttpStatus = 503,
                Error = refused.Message,
                TotalMs = (long)(time.GetUtcNow() - started).TotalMilliseconds,
            });
            throw refused;
        }
        catch (Exception e) when (e is WardenException or OperationCanceledException)
        {
            var (status, kind, _) = e is OperationCanceledException ? (499, "cancelled", "") : WardenExceptionHandler.Classify(e);
            await recorder.RecordAsync(Record(caller, request, transport, started) with
            {
                Status = kind,
                HttpStatus = status,
                Error = e.Message,
                TotalMs = (long)(time.GetUtcNow() - started).TotalMilliseconds,
            });
            throw;
        }
    }

    private ExecutionRecord Record(Caller caller, ExecutionRequest request, string transport, DateTimeOffset started)
    {
        var (sha, size, code) = Digest(request);
        return new ExecutionRecord
        {
            Id = Guid.CreateVersion7().ToString("N"), StartedAt = started, FinishedAt = time.GetUtcNow(), KeyId = caller.KeyId, UserId = caller.UserId,
            ClientIp = caller.ClientIp, Transport = transport, Language = request.Language, Backend = engine.Backend.Name, Status = "",
            HttpStatus = 0, CodeSha256 = sha, CodeBytes = size, StdinBytes = request.Stdin is null ? 0 : Encoding.UTF8.GetByteCount(request.Stdin),
            Code = code,
        };
    }

    /// <summary>SHA-256 over the code, or over each file as name NUL content NUL; the size is the code's UTF-8 bytes.</summary>
    private static (string Sha256, long Size, string Code) Digest(ExecutionRequest request)
    {
        var text = request.Files is { Count: > 0 } files
            ? string.Concat(files.Select(f => f.Name + "\0" + f.Content + "\0"))
            : request.Code ?? "";
        var bytes = Encoding.UTF8.GetBytes(text);
        long size = request.Files is { Count: > 0 } fs ? fs.Sum(f => (long)Encoding.UTF8.GetByteCount(f.Content)) : bytes.Length;
        return (Convert.ToHexStringLower(SHA256.HashData(bytes)), size, text);
    }
}
