using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace Warden.Sandbox.Tests.Infrastructure;

/// <summary>The Docker daemon's containers and volumes whose names contain a fragment (an instance name), read from the Engine API.</summary>
internal static class DockerObjects
{
    private const string Socket = "/var/run/docker.sock";

    public static List<string> Named(string fragment)
    {
        if (!File.Exists(Socket)) return [];
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(Socket), ct);
                return new NetworkStream(s, ownsSocket: true);
            },
        })
        { BaseAddress = new Uri("http://docker/"), Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var containers = http.GetFromJsonAsync<JsonArray>("containers/json?all=true").GetAwaiter().GetResult() ?? [];
            var volumes = http.GetFromJsonAsync<JsonObject>("volumes").GetAwaiter().GetResult()?["Volumes"] as JsonArray ?? [];
            return containers.SelectMany(c => (c?["Names"] as JsonArray ?? []).Select(n => "container " + (string?)n))
                .Concat(volumes.Select(v => "volume " + (string?)v?["Name"]))
                .Where(n => n.Contains(fragment, StringComparison.Ordinal)).ToList();
        }
        catch (HttpRequestException)
        {
            return []; // no daemon answering: nothing of ours can be there
        }
    }
}
