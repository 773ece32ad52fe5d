using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Egress;

/// <summary>
/// Real tools through the proxy (design §5): pip installs a hand-built wheel from a PEP 503 index the test serves
/// (named through WARDEN_EGRESS_HOSTS), and a credential the proxy adds reaches the origin while nothing inside the
/// sandbox can read it.
/// </summary>
[Collection(nameof(EgressCollection))]
public sealed class EgressToolsTests(EgressEngines engines)
{
    private async Task<ExecutionResult> RunAsync(string backend, ExecutionRequest request)
    {
        if (!Environment.IsPrivilegedProcess) throw SandboxRequirement.Unavailable("egress", "egress namespaces need Warden as root");
        var result = await engines[backend].Engine.RunAsync(request with { Network = true }, 120);
        Run.AssertStatus(ExecutionStatus.Success, result);
        return result;
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Pip_InstallsFromTheTestsIndex(string backend)
    {
        // bwrap and gVisor run the host's /usr (Debian's pip); the Docker runtime image has Debian's python3-pip too.
        string value = Guid.NewGuid().ToString("N");
        var wheel = Wheel("demo_pkg", "0.1", $"VALUE = '{value}'\n");
        string digest = Convert.ToHexStringLower(SHA256.HashData(wheel));
        engines.Origin.Files["/files/demo_pkg-0.1-py3-none-any.whl"] = ("application/octet-stream", wheel);
        engines.Origin.Files["/simple/demo-pkg/"] = ("text/html", Encoding.UTF8.GetBytes(
            $"<!DOCTYPE html><html><body><a href=\"/files/demo_pkg-0.1-py3-none-any.whl#sha256={digest}\">demo_pkg-0.1-py3-none-any.whl</a></body></html>"));
        string index = $"http://pypi.test:{engines.Origin.PortText}/simple";

        var result = await RunAsync(backend, Run.Bash($"""
            python3 -m pip install --no-cache-dir --disable-pip-version-check --no-input --quiet --target /tmp/p \
              --trusted-host pypi.test --index-url {index} demo-pkg 2>&1 | tail -5
            PYTHONPATH=/tmp/p python3 -c "import demo_pkg; print('imported', demo_pkg.VALUE)"
            """));

        Assert.Contains($"imported {value}", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Contains(engines.Origin.Requests, r => r.StartsWith("GET /files/demo_pkg-0.1-py3-none-any.whl ", StringComparison.Ordinal));
        Assert.True(result.Egress!.Connections >= 2, $"usage {result.Egress}");
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Credential_AddedByProxy_AbsentInside(string backend)
    {
        string mark = Guid.NewGuid().ToString("N");
        // The secret is searched for in halves joined at run time: the program's own text never holds it whole.
        int half = engines.Secret.Length / 2;
        string first = engines.Secret[..half], second = engines.Secret[half..];

        var result = await RunAsync(backend, Run.Python($$"""
            import os, urllib.request, urllib.error
            needle = ('{{first}}' + '{{second}}').encode()
            found = []
            if needle in '\0'.join(f'{k}={v}' for k, v in os.environ.items()).encode(): found.append('environ')
            for root in ['/proc', '/etc', '/tmp', os.getcwd(), os.path.expanduser('~')]:
                for base, dirs, files in os.walk(root):
                    if base.startswith('/proc/') and base.count('/') > 2:
                        dirs[:] = []
                    if base == '/proc':
                        dirs[:] = [d for d in dirs if d.isdigit() or d == 'self']
                        files = []
                    for name in files:
                        path = os.path.join(base, name)
                        if base.startswith('/proc') and name not in ('environ', 'cmdline'): continue
                        try:
                            with open(path, 'rb') as f:
                                if needle in f.read(1 << 20): found.append(path)
                        except OSError:
                            pass
            print('found', found)
            print('credentials file readable', os.path.exists('{{engines.CredentialsPath}}'))
            request = urllib.request.Request('http://api.test:{{engines.Origin.PortText}}/{{mark}}', headers={'Authorization': 'Bearer mine'})
            print(urllib.request.urlopen(request, timeout=20).read().decode())
            try:
                urllib.request.urlopen('https://api.test:{{engines.Origin.PortText}}/', timeout=20)
            except OSError as e:
                print('https', e)
            """));

        Assert.Contains("found []", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Contains("credentials file readable False", result.Run.Stdout, StringComparison.Ordinal);
        var head = Assert.Single(engines.Origin.Requests, r => r.Contains($"/{mark}", StringComparison.Ordinal));
        var authorization = Assert.Single(head.Split("\r\n"), l => l.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase));
        Assert.Equal($"Authorization: {engines.Secret}", authorization);
        // A CONNECT to a credentialed host would carry no header: refused rather than passed through silently.
        Assert.Contains("https", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Contains("403", result.Run.Stdout[result.Run.Stdout.IndexOf("https ", StringComparison.Ordinal)..], StringComparison.Ordinal);
    }

    /// <summary>A minimal, valid wheel: the module, METADATA, WHEEL and a RECORD with each file's hash and size.</summary>
    private static byte[] Wheel(string name, string version, string module)
    {
        string info = $"{name}-{version}.dist-info";
        var files = new List<(string Path, byte[] Data)>
        {
            ($"{name}/__init__.py", Encoding.UTF8.GetBytes(module)),
            ($"{info}/METADATA", Encoding.UTF8.GetBytes($"Metadata-Version: 2.1\nName: {name.Replace('_', '-')}\nVersion: {version}\n")),
            ($"{info}/WHEEL", Encoding.UTF8.GetBytes("Wheel-Version: 1.0\nGenerator: warden-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")),
        };
        var record = new StringBuilder();
        foreach (var (path, data) in files)
            record.Append(path).Append(",sha256=").Append(Convert.ToBase64String(SHA256.HashData(data)).TrimEnd('=').Replace('+', '-').Replace('/', '_'))
                .Append(',').Append(data.Length).Append('\n');
        record.Append(info).Append("/RECORD,,\n");
        files.Add(($"{info}/RECORD", Encoding.UTF8.GetBytes(record.ToString())));
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (path, data) in files)
            {
                using var entry = zip.CreateEntry(path).Open();
                entry.Write(data);
            }
        }
        return buffer.ToArray();
    }
}
