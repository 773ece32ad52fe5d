using System.IO.Pipes;
using Microsoft.Win32.SafeHandles;
using Warden.Core.Interop;

namespace Warden.Core.Processes;

/// <summary>
/// A pipe whose two ends are close-on-exec in this process: only the fd a spawn places with dup2 reaches a child,
/// so no other concurrently started sandbox can inherit it and hold it open.
/// </summary>
internal sealed class Pipe : IDisposable
{
    private int _read;
    private int _write;

    public unsafe Pipe()
    {
        int* fds = stackalloc int[2];
        if (Libc.pipe2(fds, Libc.O_CLOEXEC) != 0) throw new IOException($"pipe2: {Libc.ErrorText(Libc.LastError)}");
        _read = fds[0];
        _write = fds[1];
    }

    public int ReadFd => _read;
    public int WriteFd => _write;

    /// <summary>Takes the read end as an async stream (epoll-driven on Unix) and forgets it here.</summary>
    public Stream TakeReader() => Take(ref _read, PipeDirection.In);

    public Stream TakeWriter() => Take(ref _write, PipeDirection.Out);

    /// <summary>Closes the end given to the child, once the child has its own copy.</summary>
    public void CloseRead() => CloseFd(ref _read);

    public void CloseWrite() => CloseFd(ref _write);

    public void Dispose()
    {
        CloseFd(ref _read);
        CloseFd(ref _write);
    }

    private static AnonymousPipeClientStream Take(ref int fd, PipeDirection direction)
    {
        var handle = new SafePipeHandle(fd, ownsHandle: true);
        fd = -1;
        return new AnonymousPipeClientStream(direction, handle);
    }

    private static void CloseFd(ref int fd)
    {
        if (fd >= 0) Libc.close(fd);
        fd = -1;
    }
}
