using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Warden.Server.Observability;

/// <summary>
/// One JSON object a line, flat, for log shippers: <c>timestamp</c> (UTC, ISO 8601), <c>level</c>, <c>category</c>,
/// <c>event_id</c>, <c>event_name</c>, <c>message</c>, <c>trace_id</c> and <c>span_id</c> of the current activity (the
/// request's, which joins the caller's <c>traceparent</c>), the message's named values under <c>attributes</c>, and
/// <c>exception</c>. The console logger formats on the logging thread, so <see cref="Activity.Current"/> is the caller's.
/// </summary>
internal sealed class JsonLogFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "warden-json";

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = false,
        // Log text is not HTML: keep quotes, '<' and non-ASCII readable; control characters are still escaped.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null) return;
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("timestamp", DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
            json.WriteString("level", logEntry.LogLevel.ToString());
            json.WriteString("category", logEntry.Category);
            json.WriteNumber("event_id", logEntry.EventId.Id);
            if (logEntry.EventId.Name is { } eventName) json.WriteString("event_name", eventName);
            json.WriteString("message", message);
            if (Activity.Current is { } activity && activity.TraceId != default)
            {
                json.WriteString("trace_id", activity.TraceId.ToHexString());
                json.WriteString("span_id", activity.SpanId.ToHexString());
            }
            if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> values && values.Count > 0)
            {
                json.WriteStartObject("attributes");
                foreach (var (key, value) in values)
                {
                    if (key == "{OriginalFormat}") continue;
                    WriteValue(json, key, value);
                }
                json.WriteEndObject();
            }
            if (logEntry.Exception is { } exception) json.WriteString("exception", exception.ToString());
            json.WriteEndObject();
        }
        textWriter.Write(Encoding.UTF8.GetString(buffer.WrittenSpan));
        textWriter.Write('\n');
    }

    /// <summary>Numbers and booleans keep their JSON type; anything else is its invariant text.</summary>
    private static void WriteValue(Utf8JsonWriter json, string key, object? value)
    {
        switch (value)
        {
            case null: json.WriteNull(key); break;
            case bool b: json.WriteBoolean(key, b); break;
            case int i: json.WriteNumber(key, i); break;
            case long l: json.WriteNumber(key, l); break;
            case double d when double.IsFinite(d): json.WriteNumber(key, d); break;
            default: json.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture)); break;
        }
    }
}
