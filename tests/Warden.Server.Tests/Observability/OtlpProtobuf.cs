namespace Warden.Server.Tests.Observability;

/// <summary>One span as an OTLP collector receives it (ids in lower-case hex; the parent is "" for a root span).</summary>
internal sealed record OtlpSpan(string TraceId, string SpanId, string ParentSpanId, string Name, int Kind, string Scope,
    IReadOnlyDictionary<string, string> Attributes)
{
    public const int KindServer = 2;
}

/// <summary>
/// Just enough of the protobuf wire format to read OTLP's <c>ExportTraceServiceRequest</c>
/// (opentelemetry-proto, collector/trace/v1 and trace/v1): resource_spans(1) → scope_spans(2) → scope(1).name(1) and
/// spans(2) → trace_id(1), span_id(2), parent_span_id(4), name(5), kind(6), attributes(9) → key(1), value(2) of which the
/// string(1), bool(2), int(3) and double(4) forms. Everything else is skipped by its wire type.
/// </summary>
internal static class OtlpProtobuf
{
    private const int Varint = 0, Fixed64 = 1, Delimited = 2, Fixed32 = 5;

    public static List<OtlpSpan> DecodeTraces(ReadOnlyMemory<byte> request)
    {
        var spans = new List<OtlpSpan>();
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1))
        {
            foreach (var scopeSpans in Fields(resourceSpans.Bytes).Where(f => f.Number == 2))
            {
                var scope = "";
                foreach (var field in Fields(scopeSpans.Bytes))
                {
                    if (field.Number == 1) scope = Text(Fields(field.Bytes).FirstOrDefault(f => f.Number == 1).Bytes);
                    else if (field.Number == 2) spans.Add(Span(field.Bytes, scope));
                }
            }
        }
        return spans;
    }

    private static OtlpSpan Span(ReadOnlyMemory<byte> bytes, string scope)
    {
        string traceId = "", spanId = "", parent = "", name = "";
        int kind = 0;
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var field in Fields(bytes))
        {
            switch (field.Number)
            {
                case 1: traceId = Convert.ToHexStringLower(field.Bytes.Span); break;
                case 2: spanId = Convert.ToHexStringLower(field.Bytes.Span); break;
                case 4: parent = Convert.ToHexStringLower(field.Bytes.Span); break;
                case 5: name = Text(field.Bytes); break;
                case 6: kind = (int)field.Value; break;
                case 9:
                    var (key, value) = Attribute(field.Bytes);
                    attributes[key] = value;
                    break;
            }
        }
        return new OtlpSpan(traceId, spanId, parent, name, kind, scope, attributes);
    }

    private static (string Key, string Value) Attribute(ReadOnlyMemory<byte> bytes)
    {
        string key = "", value = "";
        foreach (var field in Fields(bytes))
        {
            if (field.Number == 1) key = Text(field.Bytes);
            else if (field.Number == 2)
            {
                foreach (var any in Fields(field.Bytes))
                {
                    value = any.Number switch
                    {
                        1 => Text(any.Bytes),
                        2 => any.Value != 0 ? "true" : "false",
                        3 => ((long)any.Value).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        4 => BitConverter.UInt64BitsToDouble(any.Value).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        _ => "(other)",
                    };
                }
            }
        }
        return (key, value);
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => System.Text.Encoding.UTF8.GetString(bytes.Span);

    /// <summary>The fields of one message: number, and the bytes (length-delimited) or the value (varint, fixed).</summary>
    private static List<(int Number, ReadOnlyMemory<byte> Bytes, ulong Value)> Fields(ReadOnlyMemory<byte> message)
    {
        var fields = new List<(int, ReadOnlyMemory<byte>, ulong)>();
        int at = 0;
        var span = message.Span;
        while (at < span.Length)
        {
            var tag = ReadVarint(span, ref at);
            int number = (int)(tag >> 3), wire = (int)(tag & 7);
            switch (wire)
            {
                case Varint:
                    fields.Add((number, default, ReadVarint(span, ref at)));
                    break;
                case Fixed64:
                    fields.Add((number, default, BitConverter.ToUInt64(span.Slice(at, 8))));
                    at += 8;
                    break;
                case Delimited:
                    var length = checked((int)ReadVarint(span, ref at));
                    fields.Add((number, message.Slice(at, length), 0));
                    at += length;
                    break;
                case Fixed32:
                    fields.Add((number, default, BitConverter.ToUInt32(span.Slice(at, 4))));
                    at += 4;
                    break;
                default:
                    throw new FormatException($"Wire type {wire} (field {number}) is not valid in OTLP.");
            }
        }
        return fields;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = span[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new FormatException("A varint longer than 10 bytes.");
    }
}
