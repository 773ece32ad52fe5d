using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>
/// The few Docker Engine API calls Warden needs, as plain HTTP over the daemon's unix socket (no Docker CLI and no
/// Docker.DotNet). Attach is the one call HttpClient cannot make: it upgrades the connection to a raw stream.
/// </summary>
internal sealed class DockerEngine : IDisposable
{
    private readonly string _socket;
    private readonly HttpClient _http;
    private string _version = "v1.41";

    public DockerEngine(string socket)
    {
        _socket = socket;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(_socket), ct).ConfigureAwait(false);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        _http = new HttpClient(handler) { BaseAddress = new Uri("http://docker/"), Timeout = Timeout.InfiniteTimeSpan };
    }

    public string SocketPath => _socket;

    /// <summary>Negotiates the API version (the daemon's own, e.g. 1.41 for Docker 20.10) and returns the server version.</summary>
    public async Task<string> ConnectAsync(CancellationToken cancellationToken)
    {
        var version = await _http.GetFromJsonAsync("version", DockerJson.Default.JsonObject, cancellationToken).ConfigureAwait(false)
            ?? throw new DockerException("GET /version returned nothing");
        _version = "v" + (string?)version["ApiVersion"];
        return $"Docker {(string?)version["Version"]}, API {_version[1..]}";
    }

    public async Task<JsonObject?> InfoAsync(CancellationToken ct) =>
        await _http.GetFromJsonAsync($"{_version}/info", DockerJson.Default.JsonObject, ct).ConfigureAwait(false);

    public async Task<bool> ImageExistsAsync(string image, CancellationToken ct)
    {
        using var response = await _http.GetAsync($"{_version}/images/{Uri.EscapeDataString(image)}/json", ct).ConfigureAwait(false);
        return response.IsSuccessStatusCode;
    }

    public async Task CreateVolumeAsync(JsonObject spec, CancellationToken ct) =>
        await SendAsync(HttpMethod.Post, $"{_version}/volumes/create", spec, ct).ConfigureAwait(false);

    public async Task RemoveVolumeAsync(string name, CancellationToken ct) =>
        await SendAsync(HttpMethod.Delete, $"{_version}/volumes/{name}?force=true", null, ct, HttpStatusCode.NotFound).ConfigureAwait(false);

    public async Task<string> CreateContainerAsync(string name, JsonObject spec, CancellationToken ct)
    {
        var body = await SendAsync(HttpMethod.Post, $"{_version}/containers/create?name={name}", spec, ct).ConfigureAwait(false);
        return (string?)body?["Id"] ?? throw new DockerException("container create returned no Id");
    }

    public async Task StartAsync(string id, CancellationToken ct) =>
        await SendAsync(HttpMethod.Post, $"{_version}/containers/{id}/start", null, ct, HttpStatusCode.NotModified).ConfigureAwait(false);

    /// <summary>Extracts a tar into the container (the archive API; never a bind mount of the service's files).</summary>
    public async Task PutArchiveAsync(string id, string path, byte[] tar, CancellationToken ct)
    {
        using var content = new ByteArrayContent(tar);
        content.Headers.ContentType = new("application/x-tar");
        using var response = await _http.PutAsync($"{_version}/containers/{id}/archive?path={Uri.EscapeDataString(path)}", content, ct).ConfigureAwait(false);
        await EnsureAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary>A tar of <paramref name="path"/> in the container (the archive API).</summary>
    public async Task<Stream> GetArchiveAsync(string id, string path, CancellationToken ct)
    {
        var response = await _http.GetAsync($"{_version}/containers/{id}/archive?path={Uri.EscapeDataString(path)}",
            HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        await EnsureAsync(response, ct).ConfigureAwait(false);
        return await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
    }

    public async Task<long> WaitAsync(string id, CancellationToken ct)
    {
        var body = await SendAsync(HttpMethod.Post, $"{_version}/containers/{id}/wait", null, ct).ConfigureAwait(false);
        return (long?)body?["StatusCode"] ?? -1;
    }

    public async Task<JsonObject?> InspectAsync(string id, CancellationToken ct) =>
        await _http.GetFromJsonAsync($"{_version}/containers/{id}/json", DockerJson.Default.JsonObject, ct).ConfigureAwait(false);

    public async Task KillAsync(string id, CancellationToken ct) =>
        await SendAsync(HttpMethod.Post, $"{_version}/containers/{id}/kill", null, ct, HttpStatusCode.NotFound, HttpStatusCode.Conflict).ConfigureAwait(false);

    public async Task RemoveContainerAsync(string id, CancellationToken ct) =>
        await SendAsync(HttpMethod.Delete, $"{_version}/containers/{id}?force=true&v=true", null, ct, HttpStatusCode.NotFound).ConfigureAwait(false);

    /// <summary>Containers or volumes carrying a label, e.g. <c>dev.warden.managed=1</c>.</summary>
    public async Task<JsonArray> ListContainersAsync(string label, CancellationToken ct)
    {
        var filters = Uri.EscapeDataString(JsonSerializer.Serialize(new Dictionary<string, string[]> { ["label"] = [label] }, DockerJson.Default.DictionaryStringStringArray));
        return await _http.GetFromJsonAsync($"{_version}/containers/json?all=true&filters={filters}", DockerJson.Default.JsonArray, ct).ConfigureAwait(false) ?? [];
    }

    public async Task<JsonArray> ListVolumesAsync(string label, CancellationToken ct)
    {
        var filters = Uri.EscapeDataString(JsonSerializer.Serialize(new Dictionary<string, string[]> { ["label"] = [label] }, DockerJson.Default.DictionaryStringStringArray));
        var body = await _http.GetFromJsonAsync($"{_version}/volumes?filters={filters}", DockerJson.Default.JsonObject, ct).ConfigureAwait(false);
        return body?["Volumes"] as JsonArray ?? [];
    }

    public async Task<string> CreateExecAsync(string container, JsonObject spec, CancellationToken ct)
    {
        var body = await SendAsync(HttpMethod.Post, $"{_version}/containers/{container}/exec", spec, ct).ConfigureAwait(false);
        return (string?)body?["Id"] ?? throw new DockerException("exec create returned no Id");
    }

    public async Task<JsonObject?> InspectExecAsync(string exec, CancellationToken ct) =>
        await _http.GetFromJsonAsync($"{_version}/exec/{exec}/json", DockerJson.Default.JsonObject, ct).ConfigureAwait(false);

    /// <summary>Resource limits of a running container (memory, swap, pids, CPU), changed between stages.</summary>
    public async Task UpdateAsync(string container, JsonObject resources, CancellationToken ct) =>
        await SendAsync(HttpMethod.Post, $"{_version}/containers/{container}/update", resources, ct).ConfigureAwait(false);

    /// <summary>
    /// Starts an exec attached to its stdin/stdout/stderr: a raw HTTP/1.1 upgrade on a new connection, which HttpClient
    /// cannot do. The returned stream carries stdin one way and the multiplexed output frames the other.
    /// </summary>
    public Task<NetworkStream> StartExecAttachedAsync(string exec, CancellationToken ct) =>
        UpgradeAsync($"/{_version}/exec/{exec}/start", "{\"Detach\":false,\"Tty\":false}", "exec start", ct);

    /// <summary>
    /// Attaches to a created container's stdin/stdout/stderr (before it starts, so no output is missed): the same kind
    /// of upgraded stream as <see cref="StartExecAttachedAsync"/>.
    /// </summary>
    public Task<NetworkStream> AttachAsync(string container, CancellationToken ct) =>
        UpgradeAsync($"/{_version}/containers/{container}/attach?stream=1&stdin=1&stdout=1&stderr=1", "", "attach", ct);

    private async Task<NetworkStream> UpgradeAsync(string path, string body, string what, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(_socket), ct).ConfigureAwait(false);
            var stream = new NetworkStream(socket, ownsSocket: true);
            var request = $"POST {path} HTTP/1.1\r\nHost: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n" +
                          $"Content-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request), ct).ConfigureAwait(false);
            // Read the response head byte by byte: whatever follows it already belongs to the program's output.
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await stream.ReadAsync(one, ct).ConfigureAwait(false) == 0) throw new DockerException($"{what}: connection closed");
                head.Append((char)one[0]);
                if (head.Length > 16384) throw new DockerException($"{what}: response head too long");
            }
            var status = head.ToString().Split(' ', 3);
            if (status.Length < 2 || (status[1] != "101" && status[1] != "200"))
                throw new DockerException($"{what} failed: {head.ToString().Split('\r')[0]}");
            return stream;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task<JsonObject?> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken ct, params HttpStatusCode[] tolerated)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        if (tolerated.Contains(response.StatusCode)) return null;
        await EnsureAsync(response, ct).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        return text.Length > 0 && text.TrimStart().StartsWith('{') ? JsonNode.Parse(text) as JsonObject : null;
    }

    private static async Task EnsureAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string message = text;
        try { message = (string?)JsonNode.Parse(text)?["message"] ?? text; } catch (JsonException) { }
        throw new DockerException($"{(int)response.StatusCode} {message.Trim()}", (int)response.StatusCode);
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The daemon refused or failed a call; the message is the daemon's.</summary>
/// <param name="status">The HTTP status of the daemon's answer; 0 when the call got none.</param>
internal sealed class DockerException(string message, int status = 0) : IOException("Docker: " + message)
{
    /// <summary>400: the daemon refused the body itself (a limit below its minimum), not a failure of the daemon.</summary>
    public bool Refused => status == 400;
}

/// <summary>The Engine API's JSON, generated at build time (Native AOT has no reflection-based serializer).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(JsonObject))]
[System.Text.Json.Serialization.JsonSerializable(typeof(JsonArray))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string[]>))]
internal sealed partial class DockerJson : System.Text.Json.Serialization.JsonSerializerContext;
