using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using Microsoft.Win32.SafeHandles;
using Warden.Server.NativeApi;

namespace Warden.Server.LocalRun;

/// <summary>
/// What <c>warden run</c> sends to a local <c>warden serve</c> over the state directory's socket: one program, as the
/// CLI was asked for it. <paramref name="File"/> names the source (or "-") so the server can tell the language from its
/// extension and word errors as the in-process run does.
/// </summary>
public sealed record LocalRunRequest(string File, string? Language, string Code, string Stdin, double? TimeoutSeconds, int? MemoryMb, bool Network);

/// <summary>The answer: the HTTP API's result object, or why there is none (a usage error, or a sandbox failure).</summary>
public sealed record LocalRunReply(ExecuteResponse? Result, string? UsageError, string? Failure);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(LocalRunRequest))]
[JsonSerializable(typeof(LocalRunReply))]
internal sealed partial class LocalRunJson : JsonSerializerContext;

/// <summary>
/// The handoff socket and its framing: one request and one reply per connection, each a 4-byte big-endian length and
/// that many bytes of UTF-8 JSON. The socket lives in the state directory, mode 0600, and both ends check the other's
/// uid (the socket file's owner on one side, the kernel's peer credentials on both), so only the user who runs the
/// server (root, in production) can hand it a program — never a port anyone on the host could guess.
/// </summary>
public static partial class LocalRunProtocol
{
    public const string SocketName = "run.sock";

    /// <summary>A reply bigger than this is refused (output is capped far below it).</summary>
    internal const int MaxReplyBytes = 256 << 20;

    public static string SocketPath(string stateDirectory) => Path.Combine(stateDirectory, SocketName);

    internal static async Task WriteFrameAsync(Stream stream, byte[] payload, CancellationToken cancellationToken)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, payload.Length);
        await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The next frame; null at a clean end of stream before it.</summary>
    internal static async Task<byte[]?> ReadFrameAsync(Stream stream, int maxBytes, CancellationToken cancellationToken)
    {
        var header = new byte[4];
        int read = await stream.ReadAtLeastAsync(header, 4, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (read == 0) return null;
        if (read < 4) throw new IOException("local run: the connection ended inside a frame header.");
        int length = BinaryPrimitives.ReadInt32BigEndian(header);
        if (length < 0 || length > maxBytes) throw new IOException($"local run: a frame of {length} bytes is over the limit of {maxBytes}.");
        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload, cancellationToken).ConfigureAwait(false);
        return payload;
    }

    /// <summary>The uid of the process at the other end of a connected unix socket (SO_PEERCRED, as the kernel recorded it).</summary>
    internal static uint PeerUid(Socket socket)
    {
        Span<byte> credentials = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        socket.GetRawSocketOption(SolSocket, SoPeerCred, credentials);
        return MemoryMarshal.Read<uint>(credentials[4..]);
    }

    /// <summary>The uid this process acts as; a peer must be root or this same user.</summary>
    internal static uint EffectiveUid => geteuid();

    internal static bool Trusted(uint uid) => uid == 0 || uid == geteuid();

    /// <summary>
    /// An O_PATH descriptor of <paramref name="path"/> that does not follow a final link; null when nothing is there.
    /// Enough to fstat and to connect to through /proc/self/fd, not to read or write.
    /// </summary>
    internal static SafeFileHandle? OpenPath(string path)
    {
        int noFollow = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;
        int fd = open(path, OPath | noFollow | OCloexec, 0);
        if (fd >= 0) return new SafeFileHandle(fd, ownsHandle: true);
        int errno = Marshal.GetLastPInvokeError();
        if (errno is 2 or 20) return null; // ENOENT, ENOTDIR
        throw new IOException($"open {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    /// <summary>The owner and <c>st_mode</c> of an open descriptor (statx with AT_EMPTY_PATH).</summary>
    internal static (uint Uid, int Mode) OwnerAndMode(SafeFileHandle handle, string pathForErrors)
    {
        var buffer = new byte[256];
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (statx((int)handle.DangerousGetHandle(), "", AtEmptyPath, StatxType | StatxMode | StatxUid, buffer) != 0)
                throw new IOException($"stat {pathForErrors}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
        // struct statx: stx_uid at byte 20, stx_mode (16 bits) at byte 28.
        return (BitConverter.ToUInt32(buffer, 20), BitConverter.ToUInt16(buffer, 28));
    }

    private const int SolSocket = 1, SoPeerCred = 17;
    private const int OPath = 0x200000, OCloexec = 0x80000; // the same on x86-64 and arm64
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, [Out] byte[] buffer);

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
