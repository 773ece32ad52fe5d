using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Server.Tests.Fuzz;

internal sealed partial class RequestMutator
{
    /// <summary>A request being put together: valid first, then mutated, then written out as bytes.</summary>
    private sealed class Draft(FuzzOperation operation)
    {
        private readonly List<(string Marker, string Token)> _tokens = [];

        public FuzzOperation Operation { get; } = operation;
        public string Method { get; set; } = operation.Method;
        public Dictionary<string, string> PathValues { get; } = [];
        public Dictionary<string, string> RawPathValues { get; } = [];
        public Func<string, string>? PathShape { get; set; }
        public List<KeyValuePair<string, string>> Query { get; } = [];
        public List<KeyValuePair<string, byte[]>> Headers { get; } = [];
        public List<string> Cookies { get; } = [];
        public string? Authorization { get; set; }
        public JsonNode? Json { get; set; }
        public byte[]? Raw { get; set; }
        public string? ContentType { get; set; }
        public List<string> Duplicates { get; } = [];
        public List<Func<byte[], byte[]>> Patches { get; } = [];
        public BodyDelivery Delivery { get; set; }
        public List<string> Mutations { get; } = [];

        public bool HasBody => Json is not null || Raw is not null;

        public JsonNode RawToken(string token)
        {
            var marker = $"__wardenfuzzraw{_tokens.Count}__";
            _tokens.Add((marker, token));
            return marker;
        }

        public FuzzRequest Build()
        {
            var path = Operation.Path;
            foreach (var (name, value) in PathValues)
                path = path.Replace("{" + name + "}", RawPathValues.TryGetValue(name, out var raw) ? raw : Uri.EscapeDataString(value), StringComparison.Ordinal);
            if (PathShape is not null) path = PathShape(path);
            var target = Query.Count == 0 ? path
                : path + "?" + string.Join("&", Query.Select(q => Uri.EscapeDataString(q.Key) + "=" + Uri.EscapeDataString(q.Value)));
            var headers = new List<KeyValuePair<string, byte[]>>();
            if (Authorization is not null) headers.Add(new("Authorization", Encoding.UTF8.GetBytes(Authorization)));
            headers.AddRange(Headers);
            if (Cookies.Count > 0) headers.Add(new("Cookie", Encoding.UTF8.GetBytes(string.Join("; ", Cookies))));
            if (ContentType is not null) headers.Add(new("Content-Type", Encoding.UTF8.GetBytes(ContentType)));
            byte[]? body = Raw;
            if (Json is not null)
            {
                var text = Json.ToJsonString(Writer);
                foreach (var (marker, token) in _tokens) text = text.Replace("\"" + marker + "\"", token, StringComparison.Ordinal);
                if (Duplicates.Count > 0 && text.EndsWith('}')) text = text[..^1] + (text.Length > 2 ? "" : "\"x\":1") + string.Concat(Duplicates) + "}";
                body = Encoding.UTF8.GetBytes(text);
            }
            if (body is not null) foreach (var patch in Patches) body = patch(body);
            var targetBytes = Encoding.UTF8.GetBytes(target);
            return new FuzzRequest(Operation.Id, Method, targetBytes, headers, body, body is null ? BodyDelivery.Whole : Delivery, Mutations.ToList())
            {
                ProtocolHostile = IsProtocolHostile(Method, targetBytes, headers),
            };
        }

        private static bool IsProtocolHostile(string method, byte[] target, List<KeyValuePair<string, byte[]>> headers) =>
            target.Length > 8000
            || target.Any(b => b < 0x21 || b >= 0x7f)
            || Encoding.ASCII.GetString(target).Contains("%00", StringComparison.Ordinal)
            || !method.All(char.IsAsciiLetter)
            || headers.Sum(h => h.Key.Length + h.Value.Length) > 30_000
            || headers.Any(h => h.Value.Any(b => b is 0 or (byte)'\r' or (byte)'\n') || !System.Text.Unicode.Utf8.IsValid(h.Value));
    }
}
