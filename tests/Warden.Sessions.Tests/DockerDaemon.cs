using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Sessions.Tests;

/// <summary>
/// The test's own read-only view of the Docker daemon (plain Engine API over the unix socket, as Warden talks to it):
/// what a session left behind on the docker backend.
/// </summary>
public static class DockerDaemon
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), ct);
            return new NetworkStream(socket, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri("http://docker/") };

    private static string SocketPath =>
        Environment.GetEnvironmentVariable("DOCKER_HOST") is { } host && host.StartsWith("unix://", StringComparison.Ordinal)
            ? host["unix://".Length..]
            : "/var/run/docker.sock";

    /// <summary>Containers (running or not) whose session label starts with <paramref name="sessionPrefix"/>.</summary>
    public static List<JsonObject> Containers(string sessionPrefix) =>
        Get("containers/json?all=true&filters=" + Filter()).AsArray().OfType<JsonObject>().Where(c => Session(c["Labels"]).StartsWith(sessionPrefix, StringComparison.Ordinal)).ToList();

    public static List<JsonObject> Volumes(string sessionPrefix) =>
        (Get("volumes?filters=" + Filter())["Volumes"]?.AsArray() ?? []).OfType<JsonObject>()
            .Where(v => Session(v["Labels"]).StartsWith(sessionPrefix, StringComparison.Ordinal)).ToList();

    public static JsonObject Inspect(string id) => Get($"containers/{id}/json").AsObject();

    private static string Session(JsonNode? labels) => (string?)labels?["dev.warden.session"] ?? "";

    private static string Filter() =>
        Uri.EscapeDataString(JsonSerializer.Serialize(new Dictionary<string, string[]> { ["label"] = ["dev.warden.session"] }));

    private static JsonNode Get(string path)
    {
        using var response = Http.Send(new HttpRequestMessage(HttpMethod.Get, path));
        response.EnsureSuccessStatusCode();
        using var stream = response.Content.ReadAsStream();
        return JsonNode.Parse(stream) ?? throw new InvalidOperationException("empty answer from the daemon");
    }
}
