using System.Diagnostics;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Warden.Core.Cgroups;
using Warden.Core.Interop;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Core.Processes;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Seccomp;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Benchmarks;

/// <summary>What a process run produced.</summary>
internal sealed record ProcessRun(double Milliseconds, int WaitStatus, string Stdout, string Stderr);

/// <summary>
/// The baselines Warden is compared with: the bare interpreter, and bwrap with Warden's exact isolation started by
/// hand. Every process here is started the way the engine starts its helpers (posix_spawn from Warden's spawner
/// thread, empty environment, stdout/stderr on pipes that are read to the end), so spawning itself costs the same
/// on both sides and the differences are the sandbox and the engine.
/// </summary>
internal sealed class Baselines : IDisposable
{
    /// <summary>The host uid bare bwrap runs as (nobody); Warden uses one uid per slot from 200000 up.</summary>
    private const int Nobody = 65534;

    private readonly BubblewrapBackend _backend;
    private readonly LimitPolicy _limits;
    private readonly LanguageCatalog _languages;
    private readonly ICgroup _joinCgroup;
    private readonly string _directory;
    private readonly string _workspace;

    public Baselines(BubblewrapBackend backend, LimitPolicy limits, LanguageCatalog languages, ICgroup joinCgroup)
    {
        _backend = backend;
        _limits = limits;
        _languages = languages;
        _joinCgroup = joinCgroup;
        _directory = Directory.CreateTempSubdirectory("warden-bench-").FullName;
        // bwrap needs a workspace the unprivileged uid owns, like a slot's tmpfs; the programs never write to it.
        _workspace = Path.Combine(_directory, "ws");
        Directory.CreateDirectory(_workspace);
        Libc.chown(_workspace, Nobody, Nobody);
        Libc.chmod(_directory, Convert.ToInt32("755", 8));
        // Compiled by the engine's own compiler from the engine's own policy, so it is the same program Warden
        // loads; SeccompMatchesEngine confirms it byte for byte.
        SeccompProgram = Path.Combine(_directory, "seccomp-nonet.bpf");
        SeccompCompiler.Compile(SeccompProgram, allowInet: false);
        Libc.chmod(SeccompProgram, Convert.ToInt32("644", 8));
    }

    public string SeccompProgram { get; }

    public bool SeccompMatchesEngine =>
        File.ReadAllBytes(SeccompProgram).AsSpan().SequenceEqual(File.ReadAllBytes(_backend.SeccompProgram(network: false)));

    /// <summary>The interpreter alone, no sandbox, empty environment (like <c>env -i</c>).</summary>
    public static async Task<double> BareAsync(Workload workload)
    {
        var run = await RunProcessAsync(workload.BareArgv, extraFd: null).ConfigureAwait(false);
        workload.Check("bare", run.Stdout, run.Stderr);
        return run.Milliseconds;
    }

    /// <summary><c>setpriv</c> (drop to nobody) execs bwrap with Warden's arguments; the seccomp program is placed on fd 3 by the spawn itself.</summary>
    /// <remarks>
    /// <paramref name="networkNamespace"/> false drops only <c>--unshare-net</c>: not a configuration Warden offers
    /// for isolated runs, but it shows what creating and tearing down a network namespace per run costs.
    /// </remarks>
    public async Task<double> BwrapAsync(Workload workload, bool networkNamespace = true)
    {
        var argv = SetprivBwrap(workload);
        if (!networkNamespace) argv.Remove("--unshare-net");
        var run = await RunProcessAsync(argv, SeccompProgram).ConfigureAwait(false);
        workload.Check("bwrap", run.Stdout, run.Stderr);
        return run.Milliseconds;
    }

    /// <summary>
    /// The same through a <c>/bin/sh -c</c> wrapper that opens the seccomp program on fd 3 (how a script would do it),
    /// and optionally first writes its pid to the cgroup.procs files of a limited cgroup (a join on the request path).
    /// </summary>
    public async Task<double> BwrapShellAsync(Workload workload, bool joinCgroup)
    {
        var script = new StringBuilder();
        if (joinCgroup) script.Append("for f in ").AppendJoin(' ', _joinCgroup.ProcsFiles).Append("; do echo $$ > $f; done; ");
        script.Append("exec 3< ").Append(SeccompProgram).Append(" && exec \"$@\"");
        var argv = new List<string> { "/bin/sh", "-c", script.ToString(), "sh" };
        argv.AddRange(SetprivBwrap(workload));
        var run = await RunProcessAsync(argv, extraFd: null).ConfigureAwait(false);
        workload.Check(joinCgroup ? "bwrap via sh + cgroup join" : "bwrap via sh", run.Stdout, run.Stderr);
        return run.Milliseconds;
    }

    /// <summary>The argv: setpriv, then bwrap exactly as <see cref="BwrapRenderer"/> renders it for Warden.</summary>
    public List<string> SetprivBwrap(Workload workload)
    {
        var limits = _limits.Resolve(null);
        var command = new SandboxCommand(workload.BareArgv, SandboxEnvironment.For(_languages.Resolve(workload.Language)), []);
        var spec = SandboxSpecBuilder.Build(_backend.Layout.Base(), new SandboxUser(BwrapRenderer.SandboxUid, BwrapRenderer.SandboxUid), limits, command,
            new WorkspaceMount(_workspace, SandboxSpecBuilder.DefaultWorkspace));
        var bwrap = BwrapRenderer.Arguments(spec);
        // The status fd is how Warden learns the program started; it is bookkeeping, not isolation.
        int status = bwrap.IndexOf("--json-status-fd");
        bwrap.RemoveRange(status, 2);
        var argv = new List<string>
        {
            "/usr/bin/setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "--", _backend.BwrapPath,
        };
        argv.AddRange(bwrap);
        return argv;
    }

    /// <summary>Starts argv (fd 3 = <paramref name="extraFd"/> if given), reads stdout and stderr to the end, waits for the exit.</summary>
    public static async Task<ProcessRun> RunProcessAsync(IReadOnlyList<string> argv, string? extraFd)
    {
        var clock = Stopwatch.StartNew();
        using Pipe stdin = new(), stdout = new(), stderr = new();
        ChildProcess child;
        // A fresh open per run: concurrent children must not share one file offset, or all but one read EOF.
        using (SafeFileHandle? extra = extraFd is null ? null : File.OpenHandle(extraFd))
        {
            var fds = new List<int> { stdin.ReadFd, stdout.WriteFd, stderr.WriteFd };
            if (extra is not null) fds.Add((int)extra.DangerousGetHandle());
            child = await Spawner.SpawnAsync(argv, fds).ConfigureAwait(false);
        }
        stdin.Dispose(); // both ends: the program sees end-of-file on stdin, as in Warden with no stdin
        stdout.CloseWrite();
        stderr.CloseWrite();
        await using var output = stdout.TakeReader();
        await using var errors = stderr.TakeReader();
        var outputText = ReadAllAsync(output);
        var errorText = ReadAllAsync(errors);
        int status = await child.WaitForExitAsync().ConfigureAwait(false);
        string outputRead = await outputText.ConfigureAwait(false), errorRead = await errorText.ConfigureAwait(false);
        return new ProcessRun(clock.Elapsed.TotalMilliseconds, status, outputRead, errorRead);
    }

    private static async Task<string> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer).ConfigureAwait(false);
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
