using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Core.State;
using Warden.Server.NativeApi;

namespace Warden.Server.LocalRun;

/// <summary>
/// Takes <c>warden run</c>s handed over by the CLI on this host (<see cref="LocalRunProtocol"/>), so a CLI run costs a
/// connection and a warm sandbox instead of a whole engine. The socket is created in the state directory (only Warden
/// writes there) and set to 0600; a peer that is neither root nor this server's user is refused by its kernel credentials.
/// </summary>
public sealed partial class LocalRunListener(StateDirectoryLease state, ExecutionEngine engine, LanguageCatalog catalog,
    IOptions<LimitsOptions> limits, ILogger<LocalRunListener> logger) : BackgroundService
{
    private readonly string _path = LocalRunProtocol.SocketPath(state.Path);
    private Socket? _listener;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // A socket left by a server that died is ours to replace: the state directory lock says no other server runs here.
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            File.Delete(_path);
            listener.Bind(new UnixDomainSocketEndPoint(_path));
            // Until this chmod the umask's mode applies (no write bit for others, so none can connect either).
            File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(64);
        }
        catch (Exception e) when (e is SocketException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            // A state directory path too long for a socket address, say: the CLI then runs in-process, as without a server.
            listener.Dispose();
            Log.NotListening(logger, _path, e.Message);
            return Task.CompletedTask;
        }
        _listener = listener;
        Log.Listening(logger, _path);
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_listener is not { } listener) return;
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            _ = ServeAsync(connection, stoppingToken);
        }
    }

    private async Task ServeAsync(Socket connection, CancellationToken stoppingToken)
    {
        using var owned = connection;
        try
        {
            var peer = LocalRunProtocol.PeerUid(connection);
            if (!LocalRunProtocol.Trusted(peer))
            {
                Log.RefusedPeer(logger, peer);
                return;
            }
            await using var stream = new NetworkStream(connection, ownsSocket: false);
            var l = limits.Value;
            int maxRequest = (int)Math.Min(int.MaxValue, 6 * (l.MaxCodeBytes + l.MaxStdinBytes) + 65536);
            var payload = await LocalRunProtocol.ReadFrameAsync(stream, maxRequest, stoppingToken).ConfigureAwait(false);
            if (payload is null) return;
            var request = JsonSerializer.Deserialize(payload, LocalRunJson.Default.LocalRunRequest)
                ?? throw new JsonException("an empty request");
            // The CLI going away (Ctrl-C) ends its run: any byte or the end of the stream after the request means so.
            using var gone = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            _ = WatchHangUpAsync(stream, gone);
            var reply = await RunAsync(request, gone.Token).ConfigureAwait(false);
            await LocalRunProtocol.WriteFrameAsync(stream, JsonSerializer.SerializeToUtf8Bytes(reply, LocalRunJson.Default.LocalRunReply), stoppingToken)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or JsonException or OperationCanceledException or ObjectDisposedException)
        {
            Log.Failed(logger, e.Message);
        }
    }

    private async Task<LocalRunReply> RunAsync(LocalRunRequest request, CancellationToken cancellationToken)
    {
        try
        {
            var language = LocalRunLanguage.Resolve(catalog, request.File, request.Language);
            var result = await engine.ExecuteAsync(LocalRunLanguage.ToExecution(request, language), cancellationToken).ConfigureAwait(false);
            return new LocalRunReply(ExecuteResponse.From(result), null, null);
        }
        catch (WardenException e)
        {
            return new LocalRunReply(null, e.Message, null);
        }
        catch (InvalidOperationException e)
        {
            return new LocalRunReply(null, null, e.Message);
        }
    }

    private static async Task WatchHangUpAsync(NetworkStream stream, CancellationTokenSource gone)
    {
        try
        {
            await stream.ReadAsync(new byte[1], gone.Token).ConfigureAwait(false);
            await gone.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The run finished first (or the stream broke, which the reply's write will report).
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is not null)
        {
            _listener.Dispose();
            File.Delete(_path);
        }
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _listener?.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.LocalRunListening, LogLevel.Debug, "warden run hands programs over on {Path}")]
        public static partial void Listening(ILogger logger, string path);

        [LoggerMessage(Diagnostics.EventIds.LocalRunNotListening, LogLevel.Warning, "warden run cannot hand programs over on {Path} ({Reason}); it runs them in-process")]
        public static partial void NotListening(ILogger logger, string path, string reason);

        [LoggerMessage(Diagnostics.EventIds.LocalRunRefusedPeer, LogLevel.Warning, "A local run from uid {Uid} refused: only root or the server's user may hand over programs")]
        public static partial void RefusedPeer(ILogger logger, uint uid);

        [LoggerMessage(Diagnostics.EventIds.LocalRunFailed, LogLevel.Information, "A local run ended without an answer: {Reason}")]
        public static partial void Failed(ILogger logger, string reason);
    }
}
