using System.Text.Json;
using System.Text.Json.Serialization;

namespace Warden.Core.Egress;

/// <summary>
/// Reads <c>WARDEN_EGRESS_CREDENTIALS_FILE</c>: a JSON list of <c>{host, header, value, upstream, terminate}</c>. The file
/// holds secrets, so one that its group or others could read stops start-up (like ssh with a private key).
/// </summary>
internal static class EgressCredentialsFile
{
    public static IReadOnlyList<EgressCredential> Load(string path, ICollection<string> errors)
    {
        const string setting = "WARDEN_EGRESS_CREDENTIALS_FILE (Warden:Egress:CredentialsFile)";
        List<CredentialEntry>? entries;
        try
        {
            // The mode is read from the descriptor that is then read: no swapping the file between the check and the read.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var mode = File.GetUnixFileMode(stream.SafeFileHandle);
            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
            {
                errors.Add($"{setting}: '{path}' must be readable by its owner only (chmod 600); it is {Convert.ToString((int)mode, 8)}");
                return [];
            }
            entries = JsonSerializer.Deserialize(stream, EgressJson.Default.ListCredentialEntry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{setting}: cannot read '{path}': {e.Message}");
            return [];
        }
        catch (JsonException e)
        {
            // JsonException messages quote positions, never values.
            errors.Add($"{setting}: '{path}' is not a JSON list of credentials: {e.Message}");
            return [];
        }
        var result = new List<EgressCredential>();
        for (var i = 0; i < (entries?.Count ?? 0); i++)
        {
            var e = entries![i];
            var where = $"{setting}: entry {i}";
            var host = e.Host is null || EgressHostName.IsLiteral(e.Host) ? null : EgressHostName.Normalize(e.Host);
            if (host is null) { errors.Add($"{where}: 'host' must be a host name"); continue; }
            if (string.IsNullOrEmpty(e.Header) || !e.Header.All(HttpRequestHead.IsTokenChar))
            { errors.Add($"{where} ({host}): 'header' must be a header name"); continue; }
            if (string.IsNullOrEmpty(e.Value) || e.Value.Any(c => c is '\r' or '\n' or '\0' || c > '~'))
            { errors.Add($"{where} ({host}): 'value' must be non-empty printable ASCII"); continue; }
            EgressUpstream upstream;
            switch (e.Upstream?.ToLowerInvariant())
            {
                case null or "http": upstream = EgressUpstream.Http; break;
                case "https": upstream = EgressUpstream.Https; break;
                default: errors.Add($"{where} ({host}): 'upstream' must be http or https"); continue;
            }
            if (result.Any(r => r.Host == host)) { errors.Add($"{where}: '{host}' is listed twice"); continue; }
            result.Add(new EgressCredential(host, e.Header, e.Value, upstream, e.Terminate));
        }
        return result;
    }
}

internal sealed class CredentialEntry
{
    public string? Host { get; set; }
    public string? Header { get; set; }
    public string? Value { get; set; }
    public string? Upstream { get; set; }
    public bool Terminate { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(List<CredentialEntry>))]
internal sealed partial class EgressJson : JsonSerializerContext;
