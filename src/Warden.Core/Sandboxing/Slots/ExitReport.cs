using System.Globalization;
using System.IO.Pipes;
using Microsoft.Win32.SafeHandles;
using Warden.Core.Interop;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>
/// A host FIFO through which a warm sandbox's language stub reports the program's exit status the moment it exits,
/// ahead of the isolation tool's own exit. After the program's <c>_exit</c> the sandbox still has to go before the
/// output pipes end and the status arrives: on gVisor <c>runsc run</c> stops the Sentry, the gofer and the container
/// (~10 ms here); with bwrap the program's memory is freed, the sandbox's init exits and the
/// kernel tears the namespaces down (~2 ms of a 3 ms warm python run here). The program's output is already in the
/// pipes when the report arrives (its writes to the host descriptors return only once written), so the run can end on
/// the report and leave the teardown to the recycling.
/// <para>
/// Warden holds the FIFO open read-write, so it never reads end-of-file: no report just means the run ends the old way,
/// on the tool's exit. A program can write the FIFO itself (it runs as the same user as the stub): that is the
/// program ending itself, as <c>_exit</c> would, and the sandbox is then torn down like after any exit.
/// </para>
/// </summary>
internal sealed class ExitReport : IDisposable
{
    /// <summary>Where the sandbox sees the FIFO.</summary>
    public const string SandboxPath = "/dev/warden-exit";

    private readonly AnonymousPipeClientStream _stream;

    private ExitReport(string path, AnonymousPipeClientStream stream)
    {
        HostPath = path;
        _stream = stream;
    }

    /// <summary>The FIFO on the host, bound into the sandbox at <see cref="SandboxPath"/>.</summary>
    public string HostPath { get; }

    /// <summary>A fresh FIFO at <paramref name="path"/> that only <paramref name="uid"/> (the sandbox's user) may write.</summary>
    public static ExitReport Create(string path, int uid)
    {
        File.Delete(path);
        if (Libc.mkfifo(path, Convert.ToInt32("600", 8)) != 0) throw new IOException($"mkfifo {path}: {Libc.ErrorText(Libc.LastError)}");
        if (Libc.chown(path, uid, uid) != 0) throw new IOException($"chown {path}: {Libc.ErrorText(Libc.LastError)}");
        // Read-write: opening does not wait for a writer, and the stub's closing it never looks like an end to us.
        int fd = Libc.open(path, Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0) throw new IOException($"open {path}: {Libc.ErrorText(Libc.LastError)}");
        return new ExitReport(path, new AnonymousPipeClientStream(PipeDirection.In, new SafePipeHandle(fd, ownsHandle: true)));
    }

    /// <summary>
    /// The first reported status (0–255), or null when the report is not a status or the FIFO was closed first.
    /// Never completes when nothing is reported: the caller races it against the tool's exit.
    /// </summary>
    public async Task<int?> ReadAsync()
    {
        // "255\n" at most: a longer line is not a status.
        var line = new byte[4];
        int length = 0;
        try
        {
            while (length < line.Length)
            {
                int n = await _stream.ReadAsync(line.AsMemory(length)).ConfigureAwait(false);
                if (n == 0) return null;
                length += n;
                int end = Array.IndexOf(line, (byte)'\n', 0, length);
                if (end >= 0)
                    return int.TryParse(line.AsSpan(0, end), NumberStyles.None, CultureInfo.InvariantCulture, out int status) && status <= 255 ? status : null;
            }
            return null;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        File.Delete(HostPath);
    }
}
