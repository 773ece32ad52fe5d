using System.ComponentModel;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Warden.Core.Interop;

namespace Warden.Core.Networking;

/// <summary>
/// A sandbox's network when it is granted egress: a network namespace whose only non-self endpoint is a listening
/// socket Warden holds on <c>127.0.0.1:3128</c> (and <c>[::1]:3128</c>), where Warden's egress proxy accepts. No veth,
/// no route, no DNS: anything that does not go through the proxy reaches nothing. bwrap and gVisor sandboxes join a
/// namespace <see cref="CreateAsync"/> made (warden-exec's <c>netns=</c> field, <see cref="HelperPath"/>); a Docker
/// keeper brings its own and gets the listeners put into it (<see cref="InsideAsync"/>).
/// The namespace lives as long as anything holds it: this object's handle and listeners, and the sandbox's processes;
/// nothing is left on the host when all of them are gone, even after a crash.
/// </summary>
internal sealed class EgressNetwork : IDisposable
{
    /// <summary>The proxy's port inside the sandbox: squid's, which tools and people recognise.</summary>
    public const int ProxyPort = 3128;

    /// <summary>What programs are told to use (<c>127.0.0.1</c>, never <c>localhost</c>: some resolvers try ::1 first).</summary>
    public const string ProxyUrl = "http://127.0.0.1:3128";

    private EgressNetwork(SafeFileHandle netns, IReadOnlyList<Socket> listeners, string identity)
    {
        Namespace = netns;
        Listeners = listeners;
        Identity = identity;
    }

    /// <summary>The namespace, held open for as long as the sandbox may start processes in it.</summary>
    public SafeFileHandle Namespace { get; }

    /// <summary>The listening sockets inside the namespace, IPv4 first; the proxy accepts on them.</summary>
    public IReadOnlyList<Socket> Listeners { get; }

    /// <summary>The namespace as the kernel names it (<c>net:[inode]</c>), to check a sandbox really is inside it.</summary>
    public string Identity { get; }

    /// <summary>The path warden-exec opens for <c>netns=</c>: Warden's own descriptor, seen through /proc.</summary>
    public string HelperPath => $"/proc/{Environment.ProcessId}/fd/{Namespace.DangerousGetHandle()}";

    /// <summary>Makes a fresh namespace with <c>lo</c> up and the proxy listeners in it. Needs root.</summary>
    public static Task<EgressNetwork> CreateAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // A dedicated thread, not the pool: the caller's await resumes once it is done (it takes well under a millisecond
        // to a few, depending on the kernel's namespace setup).
        return Task.Factory.StartNew(
            () => NetworkNamespace.CreateAndRunInside(Build),
            cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>
    /// Puts the proxy listeners into an existing namespace (a Docker keeper's) and
    /// takes ownership of <paramref name="netns"/>.
    /// </summary>
    public static Task<EgressNetwork> InsideAsync(SafeFileHandle netns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(netns);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.Factory.StartNew(
            () => NetworkNamespace.RunInside(netns, () => Build(netns)),
            cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Whether process <paramref name="pid"/> is inside this namespace (checked before user code runs).</summary>
    public bool Contains(int pid) => NetworkNamespace.IdentityOf($"/proc/{pid}/ns/net") == Identity;

    public void Dispose()
    {
        foreach (var listener in Listeners) listener.Dispose();
        Namespace.Dispose();
    }

    // Runs on the namespace's thread.
    private static EgressNetwork Build(SafeFileHandle netns)
    {
        // Up already in a Docker keeper's; setting IFF_UP again changes nothing there.
        BringUpLoopback();
        var listeners = new List<Socket>(2);
        try
        {
            listeners.Add(Listen(IPAddress.Loopback));
            // IPv6 is on in a fresh namespace unless the host disabled it; a client that tries ::1 still finds the proxy.
            if (Socket.OSSupportsIPv6 && TryListen(IPAddress.IPv6Loopback) is { } v6) listeners.Add(v6);
            return new EgressNetwork(netns, listeners, NetworkNamespace.Identity(netns));
        }
        catch
        {
            foreach (var listener in listeners) listener.Dispose();
            throw;
        }
    }

    private static Socket Listen(IPAddress address)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = false;
            socket.Bind(new IPEndPoint(address, ProxyPort));
            socket.Listen(128);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static Socket? TryListen(IPAddress address)
    {
        try
        {
            return Listen(address);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported)
        {
            return null;
        }
    }

    /// <summary>A fresh namespace has <c>lo</c> down, and nothing binds 127.0.0.1 until it is up.</summary>
    private static unsafe void BringUpLoopback()
    {
        using var control = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        int fd = (int)control.Handle;
        byte* request = stackalloc byte[Libc.IfreqSize];
        new Span<byte>(request, Libc.IfreqSize).Clear();
        "lo"u8.CopyTo(new Span<byte>(request, 16));
        if (Libc.ioctl_ptr(fd, Libc.SIOCGIFFLAGS, request) != 0) throw Failure("SIOCGIFFLAGS lo");
        *(short*)(request + Libc.IfreqFlagsOffset) |= Libc.IFF_UP;
        if (Libc.ioctl_ptr(fd, Libc.SIOCSIFFLAGS, request) != 0) throw Failure("SIOCSIFFLAGS lo");
    }

    private static Win32Exception Failure(string what)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new Win32Exception(errno, $"{what}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }
}
