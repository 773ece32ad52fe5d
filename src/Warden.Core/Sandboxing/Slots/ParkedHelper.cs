using System.Globalization;
using Warden.Core.Processes;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>
/// A started <c>warden-exec</c> that has already joined its slot's cgroups (the slow part) and now waits on its control
/// pipe. Sending it a control block turns it into the sandbox: it applies rlimits, drops to the slot uid and execs bwrap.
/// fd layout in the child: 0 stdin, 1 stdout, 2 stderr, 3 control, 4 bwrap's JSON status. A warm sandbox's language
/// stub waits for its go-message on stdin.
/// </summary>
internal sealed class ParkedHelper : IAsyncDisposable
{
    private ParkedHelper(ChildProcess process, Stream stdin, Stream stdout, Stream stderr, Stream control, Stream status)
    {
        Process = process;
        Stdin = stdin;
        Stdout = stdout;
        Stderr = stderr;
        Control = control;
        Status = status;
    }

    public ChildProcess Process { get; }
    public Stream Stdin { get; }
    public Stream Stdout { get; }
    public Stream Stderr { get; }
    public Stream Control { get; }
    public Stream Status { get; }

    public static async Task<ParkedHelper> StartAsync(string helperPath, int? uid, IReadOnlyList<string> procsFiles, int? gid = null)
    {
        var argv = new List<string> { helperPath, "--parent", Environment.ProcessId.ToString(CultureInfo.InvariantCulture) };
        if (uid is int u) argv.AddRange(["--uid", u.ToString(CultureInfo.InvariantCulture), "--gid", (gid ?? u).ToString(CultureInfo.InvariantCulture)]);
        foreach (var file in procsFiles) argv.AddRange(["--cgroup", file]);

        using Pipe stdin = new(), stdout = new(), stderr = new(), control = new(), status = new();
        int[] fds = [stdin.ReadFd, stdout.WriteFd, stderr.WriteFd, control.ReadFd, status.WriteFd];
        var process = await Spawner.SpawnAsync(argv, fds).ConfigureAwait(false);
        // The child has its copies; ours must go, or we would never see end-of-file on its output.
        stdin.CloseRead();
        stdout.CloseWrite();
        stderr.CloseWrite();
        control.CloseRead();
        status.CloseWrite();
        return new ParkedHelper(process, stdin.TakeWriter(), stdout.TakeReader(), stderr.TakeReader(), control.TakeWriter(), status.TakeReader());
    }

    /// <summary>Sends the control block (see <c>native/warden-exec.c</c>) and closes the pipe: the helper then execs bwrap.</summary>
    public async Task LaunchAsync(byte[] controlBlock)
    {
        try
        {
            await Control.WriteAsync(controlBlock).ConfigureAwait(false);
        }
        finally
        {
            await Control.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends a warm sandbox's go-message on the program's stdin, ahead of the request's own input (which the run feeds
    /// right after, then closes stdin).
    /// </summary>
    public async Task SendGoAsync(byte[] message)
    {
        await Stdin.WriteAsync(message).ConfigureAwait(false);
        await Stdin.FlushAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        Process.Kill();
        foreach (var stream in new[] { Stdin, Stdout, Stderr, Control, Status })
        {
            try { await stream.DisposeAsync().ConfigureAwait(false); } catch (IOException) { }
        }
        await Process.WaitForExitAsync().ConfigureAwait(false);
    }
}
