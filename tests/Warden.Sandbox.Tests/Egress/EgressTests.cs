using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Egress;

/// <summary>
/// A run granted network reaches only what the policy names, and only through Warden's proxy (design §5). Everything
/// is on 127.0.0.1: test names are mapped there by WARDEN_EGRESS_HOSTS, and only the origin's port is opened.
/// </summary>
[Collection(nameof(EgressCollection))]
public sealed class EgressTests(EgressEngines engines)
{
    private static void RequireRoot()
    {
        if (!Environment.IsPrivilegedProcess) throw SandboxRequirement.Unavailable("egress", "egress namespaces need Warden as root");
    }

    private async Task<ExecutionResult> RunAsync(string backend, ExecutionRequest request, int timeoutSeconds = 90)
    {
        RequireRoot();
        var result = await engines[backend].Engine.RunAsync(request with { Network = true }, timeoutSeconds);
        Run.AssertStatus(ExecutionStatus.Success, result);
        return result;
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task AllowedName_ThroughProxy_CurlAndPython(string backend)
    {
        string mark = Guid.NewGuid().ToString("N");
        string url = $"http://allowed.test:{engines.Origin.PortText}/{mark}";

        // Every backend's image has curl and python (the Docker runtime image: deploy/runtime-image/packages.txt).
        var result = await RunAsync(backend, Run.Bash($"""
            curl -sS --max-time 20 -H 'X-Probe: curl' {url}-curl; echo; echo "curl=$?"
            python3 -c "import urllib.request; print(urllib.request.urlopen('{url}-urllib', timeout=20).read().decode())"
            """));

        Assert.Contains($"GET /{mark}-curl HTTP/1.1", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Contains("X-Probe: curl", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Contains(engines.Origin.Requests, r => r.Contains($"/{mark}-curl", StringComparison.Ordinal));
        Assert.Contains($"GET /{mark}-urllib HTTP/1.1", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Contains(engines.Origin.Requests, r => r.Contains($"/{mark}-urllib", StringComparison.Ordinal));
        var usage = Assert.IsType<Warden.Core.Egress.EgressUsage>(result.Egress);
        Assert.Equal(2, usage.Connections);
        Assert.True(usage.BytesReceived > 0 && usage.BytesSent > 0, $"usage {usage}");
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task OtherNameRawIpAndOwnPort_RefusedByProxy_NothingReachesOrigin(string backend)
    {
        int before = engines.Origin.Connections;
        string port = engines.Origin.PortText;
        string own = engines.OwnPortNumber.ToString(System.Globalization.CultureInfo.InvariantCulture);

        // NO_PROXY names 127.0.0.1 (the sandbox's own loopback): emptied so urllib sends the literals to the proxy too.
        var result = await RunAsync(backend, Run.Python($$"""
            import os, urllib.request, urllib.error
            os.environ['NO_PROXY'] = os.environ['no_proxy'] = ''
            for url in ['http://other.test:{{port}}/', 'http://127.0.0.1:{{port}}/', 'http://2130706433:{{port}}/', 'http://169.254.169.254/latest/meta-data/', 'http://own.test:{{own}}/']:
                try:
                    urllib.request.urlopen(url, timeout=20)
                    print(url, 'reached')
                except urllib.error.HTTPError as e:
                    print(url, e.code, e.headers.get('X-Warden-Egress'))
            """));

        var lines = result.Run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.EndsWith("reason=not_allowed", lines[0], StringComparison.Ordinal);
        Assert.EndsWith("reason=ip_literal", lines[1], StringComparison.Ordinal);
        Assert.EndsWith("reason=ip_literal", lines[2], StringComparison.Ordinal);
        Assert.EndsWith("reason=ip_literal", lines[3], StringComparison.Ordinal);
        Assert.EndsWith("reason=own_endpoint", lines[4], StringComparison.Ordinal);
        Assert.Equal(before, engines.Origin.Connections);
        Assert.False(engines.OwnPort.Pending(), "the stand-in for Warden's own port received a connection");
        Assert.Equal(5, result.Egress!.Refused);
    }

    /// <summary>
    /// A compiled language's run stage gets the network its request was granted, after a compile stage that had none: on
    /// Docker the workspace (source and binary) moves into a keeper with network, re-owned by its uid, and the binary
    /// still runs and can write its workspace.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task CompiledLanguage_RunStage_ReachesAllowedName(string backend)
    {
        string mark = Guid.NewGuid().ToString("N");
        // std only: one HTTP request to the proxy named by http_proxy, the absolute URL in the request line.
        var result = await RunAsync(backend, Run.Code("rust", $$"""
            use std::io::{Read, Write};
            fn main() {
                let proxy = std::env::var("http_proxy").expect("http_proxy");
                let address = proxy.trim_start_matches("http://").trim_end_matches('/');
                let mut stream = std::net::TcpStream::connect(address).expect("connect");
                write!(stream, "GET http://allowed.test:{{engines.Origin.PortText}}/{{mark}}-rust HTTP/1.1\r\nHost: allowed.test:{{engines.Origin.PortText}}\r\nConnection: close\r\n\r\n").unwrap();
                let mut answer = String::new();
                stream.read_to_string(&mut answer).unwrap();
                println!("status {}", answer.lines().next().unwrap_or(""));
                std::fs::write("written.txt", "ok").expect("workspace writable");
                println!("wrote {}", std::fs::read_to_string("written.txt").unwrap());
            }
            """) with { CollectFiles = true }, 180);

        Assert.Contains("status HTTP/1.1 200", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Contains("wrote ok", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Contains(engines.Origin.Requests, r => r.Contains($"/{mark}-rust", StringComparison.Ordinal));
        Assert.Contains(result.Files, f => f.Name == "written.txt");
        Assert.Equal(1, result.Egress!.Connections);
    }

    /// <summary>A program that ignores the proxy reaches nothing: no route, no DNS, the host's loopback is not its own.</summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task IgnoringTheProxy_ReachesNothing(string backend)
    {
        int before = engines.Origin.Connections;
        string port = engines.Origin.PortText;
        string own = engines.OwnPortNumber.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var result = await RunAsync(backend, Run.Python($$"""
            import socket
            for host, port in [('127.0.0.1', {{port}}), ('127.0.0.1', {{own}}), ('::1', {{port}}), ('10.0.0.1', 80), ('169.254.169.254', 80)]:
                try:
                    socket.create_connection((host, port), timeout=5).close()
                    print(host, port, 'connected')
                except OSError as e:
                    print(host, port, 'failed', e.errno)
            for name in ['allowed.test', 'localhost.test', 'pypi.org']:
                try:
                    socket.getaddrinfo(name, 80)
                    print(name, 'resolved')
                except OSError:
                    print(name, 'no dns')
            """));

        Assert.DoesNotContain("connected", result.Run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("resolved", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Equal(8, result.Run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(before, engines.Origin.Connections);
        Assert.False(engines.OwnPort.Pending(), "the stand-in for Warden's own port received a connection");
        Assert.Equal(0, result.Egress!.Connections + result.Egress.Refused);
    }

    /// <summary>The proxy is the only listener; curl told to skip it (--noproxy) gets the sandbox's own empty loopback.</summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task CurlWithoutProxy_Fails(string backend)
    {
        int before = engines.Origin.Connections;

        var result = await RunAsync(backend, Run.Bash($"""
            curl -sS --noproxy '*' --max-time 10 http://127.0.0.1:{engines.Origin.PortText}/ ; echo "exit=$?"
            curl -sS --noproxy '*' --max-time 10 http://169.254.169.254/ ; echo "exit=$?"
            """));

        Assert.Contains("exit=7", result.Run.Stdout, StringComparison.Ordinal); // couldn't connect
        Assert.DoesNotContain("exit=0", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Equal(before, engines.Origin.Connections);
    }

    /// <summary>Without a network grant the run has no proxy environment and no inet sockets, as before egress existed.</summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task NoNetwork_NoProxyEnvironment(string backend)
    {
        RequireRoot();
        var result = await engines[backend].Engine.RunAsync(Run.Bash("env | grep -ci proxy; true"), 60);

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("0", result.Run.Stdout.Trim());
        Assert.Null(result.Egress);
    }

    /// <summary>
    /// Runs granted network leave no namespace handle and no listener in Warden: one that succeeds, one killed at its
    /// time limit while a tunnel is open, one whose program fails. (Docker keepers are removed in the background.)
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Runs_LeaveNoNamespaceHandles(string backend)
    {
        RequireRoot();
        var before = NamespaceLinks();
        string url = $"http://allowed.test:{engines.Origin.PortText}/leak";

        await RunAsync(backend, Run.Python($"import urllib.request; urllib.request.urlopen('{url}', timeout=20).read()"));
        var killed = await engines[backend].Engine.RunAsync(Run.Python($$"""
            import socket, time
            s = socket.create_connection(('127.0.0.1', 3128))
            s.sendall(b'CONNECT allowed.test:{{engines.Origin.PortText}} HTTP/1.1\r\nHost: allowed.test\r\n\r\n')
            time.sleep(30)
            """, limits: new Warden.Core.Limits.LimitRequest { TimeoutSeconds = 2 }) with { Network = true }, 60);
        Run.AssertStatus(ExecutionStatus.Timeout, killed);
        var failed = await engines[backend].Engine.RunAsync(Run.Python("raise SystemExit(3)") with { Network = true }, 60);
        Assert.Equal(3, failed.Run.ExitCode);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        List<string> added;
        while ((added = NamespaceLinks().Except(before).ToList()).Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Empty(added);
    }

    private static List<string> NamespaceLinks() =>
        Directory.GetFiles("/proc/self/fd").Select(f => { try { return new FileInfo(f).LinkTarget; } catch (IOException) { return null; } })
            .OfType<string>().Where(t => t.StartsWith("net:[", StringComparison.Ordinal)).ToList();
}
