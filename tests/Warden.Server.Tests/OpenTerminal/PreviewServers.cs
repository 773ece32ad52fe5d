namespace Warden.Server.Tests.OpenTerminal;

/// <summary>Servers a user starts inside their own sandbox, as a model would with run_command.</summary>
internal static class PreviewServers
{
    /// <summary>A free-enough port for this test process (each user has their own loopback, so two users may even share one).</summary>
    public static int Port() => 20000 + Random.Shared.Next(20000);

    /// <summary>python -m http.server serving <paramref name="directory"/> on 127.0.0.1:<paramref name="port"/>, started in the background; waits until it listens.</summary>
    public static async Task StartHttpAsync(TerminalClient user, string directory, int port)
    {
        await user.RunAsync($"cd {directory} && (nohup python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 &) ; " +
            $"for i in $(seq 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}))' 2>/dev/null && break; sleep 0.1; done");
    }

    /// <summary>A WebSocket echo server (RFC 6455, text and binary frames) in the Python standard library only.</summary>
    public const string WebSocketEcho = """
        import base64, hashlib, socket, struct, sys, threading
        def serve(conn):
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            f = conn.makefile("rb")
            while True:
                b0, b1 = f.read(2)
                n = b1 & 127
                if n == 126: n = struct.unpack(">H", f.read(2))[0]
                elif n == 127: n = struct.unpack(">Q", f.read(8))[0]
                mask = f.read(4)
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(f.read(n)))
                if b0 & 15 == 8:
                    conn.sendall(b"\x88\x00"); return
                reply = b"echo:" + data
                hdr = bytes([0x80 | (b0 & 15)]) + (bytes([len(reply)]) if len(reply) < 126 else b"\x7e" + struct.pack(">H", len(reply)))
                conn.sendall(hdr + reply)
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
        while True:
            c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
        """;
}
