using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Warden.Core.Egress;

namespace Warden.Sessions.Tests.Egress;

/// <summary>
/// What the long-lived egress tests share: server settings whose ceiling names only <c>allowed.test</c> (both test names
/// mapped to 127.0.0.1 by WARDEN_EGRESS_HOSTS, only the origin's port opened), an audit sink that keeps every record,
/// the Python a kernel runs to try the three ways out, and a count of Warden's network-namespace handles.
/// </summary>
internal static class EgressProbe
{
    public static Dictionary<string, string?> Settings(EchoOrigin origin) => new()
    {
        ["Warden:Egress:Allow"] = "allowed.test:*",
        ["Warden:Egress:Hosts"] = "allowed.test=127.0.0.1,other.test=127.0.0.1",
        ["Warden:Egress:AllowPrivate"] = $"127.0.0.1/32:{origin.Port}",
    };

    /// <summary>Registers <paramref name="records"/> as the proxy's audit sink.</summary>
    public static Action<IServiceCollection> Audit(ConcurrentQueue<EgressRecord> records) => services =>
        services.Replace(ServiceDescriptor.Singleton<IEgressAuditSink>(new DelegateEgressAuditSink((record, _) =>
        {
            records.Enqueue(record);
            return ValueTask.CompletedTask;
        })));

    /// <summary>
    /// Python printing one line per way out: <c>allowed …</c> (the body, through the proxy), <c>other 403</c> (refused by
    /// the proxy), <c>direct …</c> (a connect that ignores the proxy: the sandbox's own loopback refuses it).
    /// </summary>
    public static string Python(EchoOrigin origin, string mark) => $$"""
        import os, socket, urllib.error, urllib.request
        try:
            print('allowed', urllib.request.urlopen('http://allowed.test:{{origin.Port}}/{{mark}}', timeout=20).read().decode().strip())
        except Exception as e:
            print('allowed failed', type(e).__name__, e)
        try:
            urllib.request.urlopen('http://other.test:{{origin.Port}}/{{mark}}-other', timeout=20)
            print('other reached')
        except urllib.error.HTTPError as e:
            print('other', e.code)
        except Exception as e:
            print('other failed', type(e).__name__)
        try:
            socket.create_connection(('127.0.0.1', {{origin.Port}}), timeout=5)
            print('direct reached')
        except OSError as e:
            print('direct', type(e).__name__)
        """;

    /// <summary>Python (or a shell's python3 -c) for a run without network: the proxy variables are absent.</summary>
    public static string NoProxyPython(EchoOrigin origin) => $$"""
        import os, socket
        print('proxy', os.environ.get('http_proxy'))
        try:
            socket.create_connection(('127.0.0.1', {{origin.Port}}), timeout=5)
            print('direct reached')
        except OSError as e:
            print('direct', type(e).__name__)
        """;

    /// <summary>Network-namespace handles Warden's process holds (an egress network holds one while it lives).</summary>
    public static int NamespaceHandles() =>
        Directory.GetFiles("/proc/self/fd").Select(f => new FileInfo(f).LinkTarget).OfType<string>()
            .Count(t => t.StartsWith("net:[", StringComparison.Ordinal));

    /// <summary>Waits until the handle count is <paramref name="expected"/> (Docker removes in the background), then returns it.</summary>
    public static async Task<int> NamespaceHandlesAsync(int expected, CancellationToken ct)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        int now;
        while ((now = NamespaceHandles()) != expected && DateTime.UtcNow < until) await Task.Delay(100, ct);
        return now;
    }

    public static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// The long-lived egress tests count Warden's network-namespace handles: they run alone, never beside another test
/// that could open or close one meanwhile.
/// </summary>
[CollectionDefinition(nameof(EgressNamespaceCount), DisableParallelization = true)]
public sealed class EgressNamespaceCount;
