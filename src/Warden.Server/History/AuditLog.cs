using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Warden.Core.State;
using Warden.Server.Hosting;

namespace Warden.Server.History;

/// <summary>
/// The audit log: one JSON object per line, appended and flushed per batch by the recorder's single writer. The code
/// text is written only when configured; otherwise its SHA-256 and size identify it. The file is owner-only (0600,
/// whatever the umask: it names keys, users and addresses) and rotates by size: before a batch would take it past
/// <paramref name="maxFileBytes"/>, <c>audit.log</c> becomes <c>audit.log.1</c>, older files move up one, and the one
/// beyond <paramref name="keepFiles"/> is deleted.
/// </summary>
/// <param name="maxFileBytes">0: never rotate.</param>
public sealed class AuditLog(string path, bool includeCode, long maxFileBytes = 0, int keepFiles = 10) : IDisposable
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        TypeInfoResolver = AuditJson.Default,
    };
    private FileStream? _file;

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    // Two writers share the file (the execution recorder and the egress recorder): one batch at a time, so lines
    // never interleave and rotation never races a write.
    private readonly SemaphoreSlim _gate = new(1, 1);

    public Task AppendAsync(IReadOnlyList<ExecutionRecord> records, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        foreach (var record in records)
        {
            var line = includeCode ? record : record with { Code = null };
            text.Append(JsonSerializer.Serialize(new AuditLine(line), Json.Info<AuditLine>())).Append('\n');
        }
        return AppendLinesAsync(text.ToString(), cancellationToken);
    }

    /// <summary>Appends whole lines (each ending in a newline), flushed, rotating first when they would pass the limit.</summary>
    public async Task AppendLinesAsync(string lines, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var bytes = Encoding.UTF8.GetBytes(lines);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _file ??= Open();
            // A batch bigger than the limit still goes into one file (a line is never split): the next batch rotates it.
            if (maxFileBytes > 0 && _file.Length > 0 && _file.Length + bytes.Length > maxFileBytes)
            {
                Rotate();
                _file = Open();
            }
            await _file.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            await _file.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private FileStream Open()
    {
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory);
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var file = new FileStream(Path, new FileStreamOptions
        {
            Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        try
        {
            // The umask only removes bits at creation; a file an older version left 0644 is made 0600 here.
            PrivateFile.Restrict(file.SafeFileHandle, Path);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>audit.log.{N-1} → .N, …, audit.log → audit.log.1; renames keep each file's 0600.</summary>
    private void Rotate()
    {
        _file?.Dispose();
        _file = null;
        File.Delete($"{Path}.{keepFiles}");
        for (int i = keepFiles - 1; i >= 1; i--)
        {
            if (File.Exists($"{Path}.{i}")) File.Move($"{Path}.{i}", $"{Path}.{i + 1}", overwrite: true);
        }
        File.Move(Path, Path + ".1", overwrite: true);
    }

    public void Dispose()
    {
        _file?.Dispose();
        _file = null;
    }

    /// <summary>The line's shape: the record with a leading <c>time</c> field, as log shippers expect.</summary>
    internal sealed record AuditLine(
        [property: JsonPropertyOrder(-2)] DateTimeOffset Time,
        [property: JsonPropertyOrder(-1)] string Event,
        ExecutionRecord Execution)
    {
        public AuditLine(ExecutionRecord record) : this(record.FinishedAt, "execution", record)
        {
        }
    }
}

/// <summary>The audit line's shape, generated at build time; names and escaping come from the log's own options.</summary>
[JsonSerializable(typeof(AuditLog.AuditLine))]
internal sealed partial class AuditJson : JsonSerializerContext;
