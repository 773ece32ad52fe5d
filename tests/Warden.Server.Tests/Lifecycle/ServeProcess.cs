using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Warden.Server.Tests.Lifecycle;

/// <summary>A real <c>warden serve</c> child process on a free loopback port, with its own state directory.</summary>
internal sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServeProcess(Process process, string stateDirectory, Uri address)
    {
        _process = process;
        StateDirectory = stateDirectory;
        Address = address;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(90) };
        process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string StateDirectory { get; }
    public Uri Address { get; }
    public HttpClient Client { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public static string Binary
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Warden.slnx"))) dir = dir.Parent;
            Assert.NotNull(dir);
            var configuration = AppContext.BaseDirectory.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
            var path = Path.Combine(dir!.FullName, "src", "Warden.Cli", "bin", configuration, "net10.0", "warden");
            Assert.True(File.Exists(path), $"{path} is not built");
            return path;
        }
    }

    /// <summary>Starts the server and waits until /readyz says ready (or the process exits).</summary>
    public static Task<ServeProcess> StartAsync(string stateDirectory, Dictionary<string, string>? environment = null, params string[] args) =>
        StartCoreAsync(stateDirectory, environment, umask: null, args);

    /// <summary>As <see cref="StartAsync(string, Dictionary{string, string}?, string[])"/>, under the process umask <paramref name="umask"/> (octal).</summary>
    public static Task<ServeProcess> StartUnderUmaskAsync(string umask, string stateDirectory, Dictionary<string, string>? environment = null) =>
        StartCoreAsync(stateDirectory, environment, umask, []);

    private static async Task<ServeProcess> StartCoreAsync(string stateDirectory, Dictionary<string, string>? environment, string? umask, string[] args)
    {
        var port = FreePort();
        var start = new ProcessStartInfo(umask is null ? Binary : "/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (umask is not null)
        {
            // exec: the pid and the signals stay the server's own.
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"umask {umask} && exec \"$0\" \"$@\"");
            start.ArgumentList.Add(Binary);
        }
        start.ArgumentList.Add("serve");
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("WARDEN_", StringComparison.Ordinal)).ToList()) start.Environment.Remove(name);
        start.Environment["WARDEN_STATE_DIR"] = stateDirectory;
        start.Environment["WARDEN_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["WARDEN_MAX_CONCURRENT"] = "2";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (k, v) in environment ?? [])
        {
            if (v.Length == 0) start.Environment.Remove(k);
            else start.Environment[k] = v;
        }
        var server = new ServeProcess(Process.Start(start)!, stateDirectory, new Uri($"http://127.0.0.1:{port}"));
        await server.WaitReadyAsync();
        return server;
    }

    /// <summary>Runs <c>warden serve</c> expecting it to refuse to start; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> FailToStartAsync(Dictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("serve");
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["WARDEN_URLS"] = $"http://127.0.0.1:{FreePort()}";
        foreach (var (k, v) in environment) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            // It started after all: stop it (its sandboxes with it) and say so.
            _ = kill(process.Id, 15);
            if (!process.WaitForExit(TimeSpan.FromSeconds(60))) process.Kill(entireProcessTree: true);
            Assert.Fail($"warden serve was expected to refuse to start, but it ran:\n{await stdout + await stderr}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    private async Task WaitReadyAsync()
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (_process.HasExited) Assert.Fail($"warden serve exited with {_process.ExitCode}:\n{Output}");
            try
            {
                if ((await Client.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        Assert.Fail($"warden serve did not become ready:\n{Output}");
    }

    public void Signal(int signal) => Assert.Equal(0, kill(_process.Id, signal));

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            Signal(15);
            try { await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60)); }
            catch (TimeoutException) { _process.Kill(entireProcessTree: true); }
        }
        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
