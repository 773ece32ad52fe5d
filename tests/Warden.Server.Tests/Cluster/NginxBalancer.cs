using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Warden.Server.Tests.Cluster;

/// <summary>
/// Debian's nginx as a round-robin balancer in front of replicas, on a free loopback port: a config written for the test
/// (its own prefix, pid and logs; WebSocket upgrades passed through), run in the foreground as a child and stopped
/// afterwards. No system service is involved. Skips when nginx is missing (scripts/test.d/nginx.sh installs it),
/// except under CI, where that is a failure.
/// </summary>
internal sealed class NginxBalancer : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/nginx";
    private readonly Process _process;

    private NginxBalancer(Process process, string directory, Uri address)
    {
        _process = process;
        Directory = directory;
        Address = address;
    }

    public string Directory { get; }

    public Uri Address { get; }

    public static void Require()
    {
        if (File.Exists(Binary)) return;
        const string reason = "nginx is not installed (scripts/test.d/nginx.sh installs it: apt-get install nginx)";
        if (Environment.GetEnvironmentVariable("CI") == "true" || Environment.GetEnvironmentVariable("WARDEN_REQUIRE_SANDBOX") == "1") Assert.Fail(reason);
        Assert.Skip(reason);
    }

    /// <summary>The config: the same shape as the README's example (WebSocket upgrade, no buffering, long read timeout).</summary>
    public static string Config(string directory, int port, IEnumerable<Uri> upstreams) => $$"""
        worker_processes 1;
        pid {{directory}}/nginx.pid;
        error_log {{directory}}/error.log warn;
        events { worker_connections 4096; }
        http {
            access_log off;
            client_body_temp_path {{directory}}/body;
            proxy_temp_path {{directory}}/proxy;
            map $http_upgrade $connection_upgrade { default upgrade; '' close; }
            upstream warden {
        {{string.Concat(upstreams.Select(u => $"        server {u.Authority} max_fails=1 fail_timeout=5s;\n"))}}        keepalive 32;
            }
            server {
                listen 127.0.0.1:{{port}};
                client_max_body_size 64m;
                location / {
                    proxy_pass http://warden;
                    proxy_http_version 1.1;
                    proxy_set_header Upgrade $http_upgrade;
                    proxy_set_header Connection $connection_upgrade;
                    proxy_set_header Host $host;
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                    proxy_buffering off;
                    proxy_request_buffering off;
                    proxy_read_timeout 3600s;
                    proxy_send_timeout 3600s;
                }
            }
        }
        """;

    public static async Task<NginxBalancer> StartAsync(IReadOnlyList<Uri> upstreams)
    {
        Require();
        var directory = System.IO.Directory.CreateTempSubdirectory("warden-nginx-").FullName;
        foreach (var sub in new[] { "body", "proxy" })
        {
            // nginx's workers drop to nobody when started as root: they must be able to write their temp files.
            var path = System.IO.Directory.CreateDirectory(Path.Combine(directory, sub));
            path.UnixFileMode = (UnixFileMode)0x1FF;
        }
        var port = FreePort();
        await File.WriteAllTextAsync(Path.Combine(directory, "nginx.conf"), Config(directory, port, upstreams));
        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-p", directory, "-c", Path.Combine(directory, "nginx.conf"), "-e", Path.Combine(directory, "error.log"), "-g", "daemon off;" })
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        var balancer = new NginxBalancer(process, directory, new Uri($"http://127.0.0.1:{port}"));
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
                Assert.Fail($"nginx exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync()} {balancer.ErrorLog()}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return balancer;
            }
            catch (SocketException) when (watch.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(50);
            }
        }
    }

    public string ErrorLog()
    {
        var path = Path.Combine(Directory, "error.log");
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
        _process.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
