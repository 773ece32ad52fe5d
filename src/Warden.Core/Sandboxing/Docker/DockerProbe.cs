using System.Net.Sockets;
using System.Text;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>Prerequisites of the docker backend: a reachable daemon, the runtime image, the configured runtime.</summary>
internal static class DockerProbe
{
    public static BackendProbe Run(DockerOptions options)
    {
        var checks = new List<ProbeCheck>();
        var socket = options.SocketPath();
        var ping = Get(socket, "/_ping");
        checks.Add(new("docker daemon", ping is "OK", ping is "OK" ? $"answering on {socket}" : $"no answer on {socket}: {ping}",
            "apt-get install docker.io and start dockerd (deploy/runtime-image/start-dockerd.sh), or set Warden:Docker:Socket / DOCKER_HOST"));
        if (ping is not "OK") return new BackendProbe("docker", checks);
        var image = Get(socket, $"/images/{Uri.EscapeDataString(options.Image)}/json");
        bool haveImage = image is not null && image.StartsWith('{');
        checks.Add(new("runtime image", haveImage, haveImage ? options.Image : $"{options.Image} not found",
            "build it without a registry: deploy/runtime-image/build.sh " + options.Image));
        if (options.Runtime.Length > 0)
        {
            var info = Get(socket, "/info") ?? "";
            bool known = info.Contains($"\"{options.Runtime}\"", StringComparison.Ordinal);
            checks.Add(new("runtime", known, known ? options.Runtime : $"the daemon has no runtime '{options.Runtime}'",
                "add it to daemon.json \"runtimes\" (e.g. {\"runsc\": {\"path\": \"/usr/bin/runsc\"}}) and restart dockerd"));
        }
        return new BackendProbe("docker", checks);
    }

    /// <summary>A bare HTTP/1.0 GET over the unix socket: the probe must work without the rest of the client.</summary>
    private static string? Get(string socketPath, string path)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.ReceiveTimeout = socket.SendTimeout = 5000;
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            socket.Send(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n"));
            var response = new StringBuilder();
            var buffer = new byte[65536];
            int n;
            while ((n = socket.Receive(buffer)) > 0) response.Append(Encoding.UTF8.GetString(buffer, 0, n));
            var text = response.ToString();
            int body = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (!text.StartsWith("HTTP/1.", StringComparison.Ordinal) || body < 0) return null;
            return text.Split(' ')[1] == "200" ? text[(body + 4)..] : null;
        }
        catch (SocketException e)
        {
            return e.Message;
        }
    }
}
