using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Warden.Server.History;

/// <summary>
/// The audit log: one JSON object per line, appended and flushed per batch by the recorder's single writer. The code
/// text is written only when configured; otherwise its SHA-256 and size identify it.
/// </summary>
public sealed class AuditLog(string path, bool includeCode) : IDisposable
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
    private FileStream? _file;

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public async Task AppendAsync(IReadOnlyList<ExecutionRecord> records, CancellationToken cancellationToken)
    {
        if (_file is null)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            // Owner-only: the log names keys, users and addresses.
            _file = new FileStream(Path, new FileStreamOptions
            {
                Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        var text = new StringBuilder();
        foreach (var record in records)
        {
            var line = includeCode ? record : record with { Code = null };
            text.Append(JsonSerializer.Serialize(new AuditLine(line), Json)).Append('\n');
        }
        await _file.WriteAsync(Encoding.UTF8.GetBytes(text.ToString()), cancellationToken).ConfigureAwait(false);
        await _file.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _file?.Dispose();

    /// <summary>The line's shape: the record with a leading <c>time</c> field, as log shippers expect.</summary>
    private sealed record AuditLine(
        [property: JsonPropertyOrder(-2)] DateTimeOffset Time,
        [property: JsonPropertyOrder(-1)] string Event,
        ExecutionRecord Execution)
    {
        public AuditLine(ExecutionRecord record) : this(record.FinishedAt, "execution", record)
        {
        }
    }
}
