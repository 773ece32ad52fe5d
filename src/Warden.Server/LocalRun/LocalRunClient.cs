using System.Net.Sockets;
using System.Text.Json;

namespace Warden.Server.LocalRun;

/// <summary>
/// The CLI's side of the handoff. The socket is opened without following links (O_PATH|O_NOFOLLOW) and that open
/// descriptor is what gets checked (a socket, owned by root or by us, no permission bits for group or others) and what
/// gets connected to (through /proc/self/fd), so nothing can swap the file between check and use; the connected peer's
/// kernel credentials must then be root or us as well. Any failure means "no server": the caller runs in-process.
/// </summary>
public sealed class LocalRunClient : IDisposable
{
    private readonly Socket _socket;

    private LocalRunClient(Socket socket) => _socket = socket;

    /// <summary>A connection to the server of <paramref name="stateDirectory"/>, or null (with the reason) when there is none to trust.</summary>
    public static LocalRunClient? TryConnect(string stateDirectory, out string? refused)
    {
        var path = LocalRunProtocol.SocketPath(stateDirectory);
        refused = null;
        Socket? socket = null;
        try
        {
            using var handle = LocalRunProtocol.OpenPath(path);
            if (handle is null) return null; // the common case without a server
            var (uid, mode) = LocalRunProtocol.OwnerAndMode(handle, path);
            if ((mode & 0xF000) != 0xC000) { refused = $"{path} is not a socket"; return null; }
            if (!LocalRunProtocol.Trusted(uid)) { refused = $"{path} is owned by uid {uid}, not root or us"; return null; }
            if ((mode & 0x3F) != 0) { refused = $"{path} has mode {Convert.ToString(mode & 0xFFF, 8)}; group or others may use it"; return null; }
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            // The descriptor checked above, not the name again: a file swapped in since cannot be the one connected to.
            socket.Connect(new UnixDomainSocketEndPoint($"/proc/self/fd/{handle.DangerousGetHandle()}"));
            var peer = LocalRunProtocol.PeerUid(socket);
            if (!LocalRunProtocol.Trusted(peer)) { refused = $"the server on {path} runs as uid {peer}, not root or us"; socket.Dispose(); return null; }
            return new LocalRunClient(socket);
        }
        catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException)
        {
            // A stale socket left by a server that is gone (ECONNREFUSED) is the usual one; nothing to report then.
            socket?.Dispose();
            if (e is not SocketException { SocketErrorCode: SocketError.ConnectionRefused }) refused = e.Message;
            return null;
        }
    }

    /// <summary>Runs the program on the server. Once the request is sent, a failure is the run's: the caller must not run it again.</summary>
    public async Task<LocalRunReply> RunAsync(LocalRunRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        await using var stream = new NetworkStream(_socket, ownsSocket: false);
        await LocalRunProtocol.WriteFrameAsync(stream, JsonSerializer.SerializeToUtf8Bytes(request, LocalRunJson.Default.LocalRunRequest), cancellationToken)
            .ConfigureAwait(false);
        var payload = await LocalRunProtocol.ReadFrameAsync(stream, LocalRunProtocol.MaxReplyBytes, cancellationToken).ConfigureAwait(false)
            ?? throw new IOException("the server closed the connection without an answer");
        return JsonSerializer.Deserialize(payload, LocalRunJson.Default.LocalRunReply)
            ?? throw new IOException("the server's answer was empty");
    }

    public void Dispose() => _socket.Dispose();
}
