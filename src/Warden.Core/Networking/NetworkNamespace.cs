using System.ComponentModel;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Warden.Core.Interop;

namespace Warden.Core.Networking;

/// <summary>
/// Runs code inside a network namespace other than Warden's. Linux keeps the network namespace per thread, so the work
/// runs on a dedicated <see cref="Thread"/> (never a pool thread, which would carry the namespace into whatever it runs
/// next) that enters the namespace, runs the body, goes back and ends. Sockets keep the namespace they were created in:
/// a listener made inside can be accepted on from any thread afterwards.
/// </summary>
internal static class NetworkNamespace
{
    private const string ThreadOwn = "/proc/thread-self/ns/net";

    /// <summary>Runs <paramref name="body"/> with its thread inside the namespace <paramref name="netns"/>.</summary>
    public static T RunInside<T>(SafeFileHandle netns, Func<T> body)
    {
        ArgumentNullException.ThrowIfNull(netns);
        ArgumentNullException.ThrowIfNull(body);
        return OnOwnThread(() =>
        {
            Enter(netns);
            return body();
        });
    }

    /// <summary>
    /// Makes a new network namespace (only <c>lo</c>, down) and runs <paramref name="body"/> inside it with the
    /// namespace's handle; the handle is the body's to keep or dispose. Needs CAP_SYS_ADMIN (Warden as root).
    /// </summary>
    public static T CreateAndRunInside<T>(Func<SafeFileHandle, T> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        return OnOwnThread(() =>
        {
            if (Libc.unshare(Libc.CLONE_NEWNET) != 0) throw Failure("unshare(CLONE_NEWNET)");
            var created = Open(ThreadOwn);
            try
            {
                return body(created);
            }
            catch
            {
                created.Dispose();
                throw;
            }
        });
    }

    /// <summary>Opens a namespace file (<c>/proc/PID/ns/net</c>, <c>/proc/thread-self/ns/net</c>), close-on-exec.</summary>
    public static SafeFileHandle Open(string path)
    {
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0) throw Failure($"open {path}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// The namespace's identity as the kernel names it (<c>net:[4026532176]</c>): the nsfs inode. Every nsfs file on
    /// the host lives on the one nsfs device, so equal names are the same namespace.
    /// </summary>
    public static string Identity(SafeFileHandle netns)
    {
        ArgumentNullException.ThrowIfNull(netns);
        return Identity($"/proc/self/fd/{netns.DangerousGetHandle()}");
    }

    /// <summary>The identity of the namespace a link such as <c>/proc/PID/ns/net</c> names; null when it is gone.</summary>
    public static string? IdentityOf(string nsLink)
    {
        try
        {
            return Identity(nsLink);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Identity(string link) =>
        new FileInfo(link).LinkTarget is { } target && target.StartsWith("net:[", StringComparison.Ordinal)
            ? target
            : throw new IOException($"{link} is not a network namespace.");

    private static void Enter(SafeFileHandle netns)
    {
        if (Libc.setns((int)netns.DangerousGetHandle(), Libc.CLONE_NEWNET) != 0) throw Failure("setns(CLONE_NEWNET)");
    }

    private static T OnOwnThread<T>(Func<T> work)
    {
        T result = default!;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            SafeFileHandle home;
            try
            {
                home = Open(ThreadOwn);
            }
            catch (Win32Exception e)
            {
                error = ExceptionDispatchInfo.Capture(e);
                return;
            }
            using (home)
            {
                string homeId = Identity(home);
                try
                {
                    result = work();
                }
#pragma warning disable CA1031 // rethrown on the caller's thread below
                catch (Exception e)
#pragma warning restore CA1031
                {
                    error = ExceptionDispatchInfo.Capture(e);
                }
                // The thread ends right after this, so a namespace it failed to leave dies with it; going back is for
                // anything the runtime might still run on the thread before it exits.
                if (Libc.setns((int)home.DangerousGetHandle(), Libc.CLONE_NEWNET) != 0 || Identity(ThreadOwn) != homeId)
                    error ??= ExceptionDispatchInfo.Capture(Failure("setns back to Warden's network namespace"));
            }
        })
        {
            IsBackground = true,
            Name = "warden-netns",
        };
        thread.Start();
        thread.Join();
        error?.Throw();
        return result;
    }

    private static Win32Exception Failure(string what)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new Win32Exception(errno, $"{what}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }
}
