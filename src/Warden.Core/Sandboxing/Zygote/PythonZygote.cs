using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Warden.Core.Limits;
using Warden.Core.Pool;
using Warden.Core.Processes;
using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Sandboxing.Zygote;

/// <summary>
/// A python interpreter, started once, that has loaded everything the warm stub loads and forks each warm sandbox from
/// itself instead of starting a new interpreter in it: at saturation a warm sandbox then costs a fork and a few mounts
/// instead of bwrap plus an interpreter start-up (~25 ms of CPU here, more than the whole bare run).
/// <para>
/// It runs as host root in a mount namespace of its own, with the sandbox root built once as a read-only template
/// (what bwrap builds per sandbox). Per request (python_zygote.py) a child joins the slot's cgroups, unshares the mount,
/// pid, ipc, uts, cgroup and (unless granted network) network namespaces, mounts /dev, /tmp and the workspace over the
/// template's mount points and pivots into it; the pid namespace's init (as bwrap's) forks the program, which drops the
/// bounding set, every id to the slot's host uid, sets no_new_privs, loads the same seccomp program as bwrap's
/// sandboxes and only then reads its go-message. The parked helper stands in for bwrap towards
/// <see cref="SlotRun"/>: it passes the sandbox's stdio and status descriptors to the zygote and exits with the
/// program's status.
/// </para>
/// Differences from a bwrap sandbox, all documented in the README: no user namespace (the program's uid is the slot's
/// host uid, where bwrap shows 1000: nothing maps it; /etc/passwd names only 1000), and every sandbox shares the
/// zygote's address-space layout and string-hash secret, which a program can learn about and another execution's
/// program cannot be steered through.
/// </summary>
internal sealed partial class PythonZygote : IAsyncDisposable
{
    private readonly ChildProcess _process;
    private readonly Task _log;

    private PythonZygote(ChildProcess process, Task log, string socketPath)
    {
        _process = process;
        _log = log;
        SocketPath = socketPath;
    }

    public string SocketPath { get; }

    public bool IsRunning => !_process.HasExited;

    /// <summary>The program: the zygote's set-up, then the warm stub, whose go-message read it turns into a fork server.</summary>
    internal static string Program { get; } = BuildProgram();

    /// <summary>Starts a zygote for <paramref name="recipe"/> (its interpreter, flags and environment) and waits until it listens.</summary>
    /// <param name="seccompPrograms">Every seccomp program a request may name (read once, at start).</param>
    public static async Task<PythonZygote> StartAsync(WarmRecipe recipe, BwrapLayout layout, IReadOnlyList<string> seccompPrograms,
        string runDirectory, ILogger logger, CancellationToken cancellationToken)
    {
        var stub = recipe.Stub.Argv;
        if (stub.Count < 2 || stub[^2] != "-c") throw new InvalidOperationException("The python warm stub is not a -c program.");
        var socketPath = Path.Combine(runDirectory, "zygote-" + recipe.Language + ".sock");
        var root = Path.Combine(runDirectory, "zygote-" + recipe.Language + "-root");
        var argv = new List<string> { "/usr/bin/env" };
        argv.AddRange(recipe.Stub.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value));
        argv.AddRange(stub.Take(stub.Count - 1));
        argv.Add(Program);

        using Pipe stdin = new(), stdout = new(), stderr = new();
        var process = await Spawner.SpawnAsync(argv, [stdin.ReadFd, stdout.WriteFd, stderr.WriteFd]).ConfigureAwait(false);
        _ = process.WaitForExitAsync(); // watched from now on: IsRunning turns false as soon as it dies
        stdin.CloseRead();
        stdout.CloseWrite();
        stderr.CloseWrite();
        using var ready = new StreamReader(stdout.TakeReader(), Encoding.UTF8); // "ready" is all the zygote writes there
        var errors = new StreamReader(stderr.TakeReader(), Encoding.UTF8);
        var log = LogAsync(errors, logger);
        var zygote = new PythonZygote(process, log, socketPath);
        try
        {
            await using (var config = stdin.TakeWriter())
                await config.WriteAsync(Encoding.UTF8.GetBytes(Configuration(layout, seccompPrograms, root, socketPath)), cancellationToken).ConfigureAwait(false);
            var line = await ready.ReadLineAsync(cancellationToken).AsTask().WaitAsync(StartTimeout, cancellationToken).ConfigureAwait(false);
            if (line != "ready") throw new IOException("The python zygote exited during start-up (see the log).");
        }
        catch
        {
            await zygote.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        Log.Started(logger, process.Pid, socketPath);
        return zygote;
    }

    /// <summary>
    /// The helper's control block for one warm sandbox on <paramref name="slot"/>: the request the zygote's child acts
    /// on (see python_zygote.py). The request's limits replace the idle ones on the cgroup at go, as for bwrap.
    /// </summary>
    public IReadOnlyList<string> ControlFields(SandboxSlot slot, ResourceLimits limits, string seccompProgram, string? exitReport = null)
    {
        if (slot.Uid is not int uid || slot.Cgroup is null) throw new InvalidOperationException("A zygote sandbox needs a slot uid and cgroup.");
        var fields = new List<string> { "zygote=" + SocketPath, "mount=" + slot.HostWorkspace };
        if (exitReport is not null) fields.Add("report=" + exitReport);
        fields.AddRange(
        [
            "--",
            "uid=" + uid.ToString(CultureInfo.InvariantCulture),
            "tmp=" + limits.TmpBytes.ToString(CultureInfo.InvariantCulture),
            "tmp_inodes=" + ResourceLimits.InodesFor(limits.TmpBytes).ToString(CultureInfo.InvariantCulture),
            "network=" + (limits.Network ? "1" : "0"),
            "seccomp=" + seccompProgram,
        ]);
        fields.AddRange(slot.Cgroup.ProcsFiles.Select(f => "cgroup=" + f));
        fields.AddRange(BwrapRenderer.Rlimits(Spec.SandboxSpecBuilder.Rlimits(limits)));
        return fields;
    }

    internal static string Configuration(BwrapLayout layout, IReadOnlyList<string> seccompPrograms, string root, string socketPath)
    {
        var lines = new StringBuilder();
        void Line(params string[] parts)
        {
            if (parts.Any(p => p.Contains('\t') || p.Contains('\n'))) throw new InvalidOperationException("Paths must not contain tabs or newlines.");
            lines.Append(string.Join('\t', parts)).Append('\n');
        }
        Line("root", root);
        Line("parent", Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        Line("socket", socketPath);
        foreach (var dir in layout.ReadOnlyDirectories) Line("ro", dir);
        foreach (var (target, link) in layout.Symlinks) Line("link", target, link);
        Line("etc", layout.EtcDirectory);
        foreach (var path in layout.ReadOnlyPathsIfPresent) Line("try", path);
        foreach (var path in seccompPrograms) Line("seccomp", path);
        return lines.ToString();
    }

    private static string BuildProgram()
    {
        using var stream = typeof(PythonZygote).Assembly.GetManifestResourceStream("Warden.Core.Zygote.python_zygote.py")
            ?? throw new InvalidOperationException("python_zygote.py is missing from the assembly.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        const string hook = "    fields = read_message()\n";
        var stub = LanguageStubs.PythonSource;
        if (stub.Split(hook).Length != 2) throw new InvalidOperationException("The python stub's go-message read moved.");
        return reader.ReadToEnd() + "\n" + stub.Replace(hook, "    _warden_fork()\n" + hook, StringComparison.Ordinal);
    }

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private static async Task LogAsync(StreamReader errors, ILogger logger)
    {
        try
        {
            while (await errors.ReadLineAsync().ConfigureAwait(false) is { } line) Log.Said(logger, line);
        }
        catch (IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync().ConfigureAwait(false);
        await _log.ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.ZygoteStarted, LogLevel.Information, "python zygote {Pid} listening on {Socket}")]
        public static partial void Started(ILogger logger, int pid, string socket);

        [LoggerMessage(Diagnostics.EventIds.ZygoteSaid, LogLevel.Warning, "python zygote: {Line}")]
        public static partial void Said(ILogger logger, string line);
    }
}
