using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Execution;
using Warden.Core.State;
using Warden.Server.LocalRun;

namespace Warden.Server.Tests.Hosting;

/// <summary>
/// `warden run` hands its program to the local server of its state directory, and only to one it can trust: a socket
/// with group/other bits, owned by another user, or reached through a symbolic link is refused and the run happens
/// in-process, with the same output and exit code either way.
/// </summary>
public sealed class LocalRunTests
{
    private const string Program = "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\nsys.exit(3)\n";

    [Fact]
    public async Task ServedInstance_TakesTheRun_WithTheSameOutputAndExitCodeAsInProcess()
    {
        // A state directory of its own: test servers running in parallel in this process share the default one, and the
        // last to start would own its run.sock (the CLI's run then went to another test's server).
        using var own = new TempStateDirectory();
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:StateDirectory"] = own.Path });
        var state = server.Services.GetRequiredService<StateDirectoryLease>().Path;
        Assert.Equal(own.Path, state);
        var stats = server.Services.GetRequiredService<ExecutionEngine>().Stats;
        var socket = LocalRunProtocol.SocketPath(state);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));

        long before = stats.Total;
        var handedOver = await RunCliAsync(state);
        // The server ran it (the CLI's stderr says why, if it did not hand the run over).
        Assert.True(stats.Total == before + 1, $"the server ran {stats.Total - before} runs; the CLI: {handedOver}");

        using var elsewhere = new TempStateDirectory();
        var inProcess = await RunCliAsync(elsewhere.Path);
        Assert.Equal(before + 1, stats.Total); // the server did not

        Assert.Equal((3, "to stdout\n", "to stderr\n"), handedOver);
        Assert.Equal(handedOver, inProcess);
    }

    [Theory]
    [InlineData("mode")]
    [InlineData("owner")]
    [InlineData("symlink")]
    public async Task UntrustedSocket_IsRefused_AndTheRunHappensInProcess(string flaw)
    {
        using var state = new TempStateDirectory();
        var path = LocalRunProtocol.SocketPath(state.Path);
        using var impostor = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var bound = flaw == "symlink" ? Path.Combine(state.Path, "elsewhere.sock") : path;
        impostor.Bind(new UnixDomainSocketEndPoint(bound));
        impostor.Listen(4);
        File.SetUnixFileMode(bound, flaw == "mode"
            ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite
            : UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (flaw == "owner") Chown(bound, 65534);
        if (flaw == "symlink") File.CreateSymbolicLink(path, bound);

        using (var client = LocalRunClient.TryConnect(state.Path, out var refused))
        {
            Assert.Null(client);
            Assert.NotNull(refused);
        }

        // Nothing ever connected to the impostor: the CLI ran the program itself.
        var result = await RunCliAsync(state.Path, expectRefusal: true);
        Assert.Equal((3, "to stdout\n", "to stderr\n"), result);
        impostor.Blocking = false;
        Assert.Throws<SocketException>(() => impostor.Accept());
    }

    [Fact]
    public void NoSocket_MeansNoServer_WithoutComplaint()
    {
        using var state = new TempStateDirectory();
        using var client = LocalRunClient.TryConnect(state.Path, out var refused);
        Assert.Null(client);
        Assert.Null(refused);
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunCliAsync(string stateDirectory, bool expectRefusal = false)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var work = Directory.CreateTempSubdirectory("warden-localrun-").FullName;
        try
        {
            var program = Path.Combine(work, "exit3.py");
            await File.WriteAllTextAsync(program, Program, cancellationToken);
            var start = new ProcessStartInfo(CliPath(), ["run", program])
            {
                RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
            };
            start.Environment["WARDEN_STATE_DIR"] = stateDirectory;
            start.Environment["WARDEN_BACKEND"] = TestBackend.Name;
            using var process = Process.Start(start)!;
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
            var err = await stderr;
            // The refusal is said once, on stderr, before the program's own output.
            const string Refusal = "warden run: not handing over to the local server: ";
            if (expectRefusal)
            {
                Assert.StartsWith(Refusal, err, StringComparison.Ordinal);
                err = err[(err.IndexOf('\n', StringComparison.Ordinal) + 1)..];
            }
            return (process.ExitCode, await stdout, err);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string CliPath()
    {
        var repo = new DirectoryInfo(AppContext.BaseDirectory);
        while (repo is not null && !File.Exists(Path.Combine(repo.FullName, "Warden.slnx"))) repo = repo.Parent;
        Assert.NotNull(repo);
#if DEBUG
        const string Configuration = "Debug";
#else
        const string Configuration = "Release";
#endif
        var cli = Path.Combine(repo.FullName, "src", "Warden.Cli", "bin", Configuration, "net10.0", "warden");
        Assert.True(File.Exists(cli), $"{cli} is missing: build src/Warden.Cli first");
        return cli;
    }

    private static void Chown(string path, int uid)
    {
        using var chown = Process.Start(new ProcessStartInfo("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path]) { UseShellExecute = false })!;
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
    }

    /// <summary>A state directory of the test's own (short path: a socket address holds 108 bytes).</summary>
    private sealed class TempStateDirectory : IDisposable
    {
        public TempStateDirectory()
        {
            Path = Directory.CreateTempSubdirectory("wlr-").FullName;
            // The mode Warden sets on a state directory as root: else the in-process run says it changed it, on stderr.
            File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        }

        public string Path { get; }

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
