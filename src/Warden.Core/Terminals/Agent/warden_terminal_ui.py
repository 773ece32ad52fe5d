"""Operations of the terminal agent for Open WebUI's interface: ZIP archives, listening ports, and byte relays to a
server inside this sandbox (previews). Loaded by warden_terminal.py, whose helpers (path checks, walks, send) it uses.

Streams: an op that streams (archive, connect) answers with lines {"id": N, "chunk": base64} before (archive) or after
(connect) its final {"id": N, "ok": ...}, and {"id": N, "eof": true} when a relay's socket has no more to say. At most
WINDOW chunks are unacknowledged: the host grants one more with {"op": "credit", "stream": N} for each chunk it has
passed on, so a slow browser slows the sandbox's server instead of filling the host's memory.
"""
import base64
import os
import socket
import stat
import threading
import time
import zipfile

import __main__ as agent

CHUNK = 64 * 1024
WINDOW = 8
CREDIT_TIMEOUT = 120.0

_streams = {}
_streams_lock = threading.Lock()


class Stream:
    def __init__(self, stream_id):
        self.id = stream_id
        self.credits = threading.Semaphore(WINDOW)
        self.closed = False
        self.sock = None

    def send(self, data):
        """Sends data as chunks, each after a credit; False once the host has closed the stream."""
        for start in range(0, len(data), CHUNK):
            if not self.credits.acquire(timeout=CREDIT_TIMEOUT) or self.closed:
                return False
            agent.send({"id": self.id, "chunk": base64.b64encode(data[start:start + CHUNK]).decode()})
        return not self.closed


def open_stream(stream_id):
    stream = Stream(stream_id)
    with _streams_lock:
        _streams[stream_id] = stream
    return stream


def drop_stream(stream):
    with _streams_lock:
        _streams.pop(stream.id, None)


def get_stream(req):
    with _streams_lock:
        stream = _streams.get(req.get("stream"))
    if stream is None:
        raise agent.Fail("not_found", "No such stream.")
    return stream


def op_credit(req):
    with _streams_lock:
        stream = _streams.get(req.get("stream"))
    if stream is not None:
        stream.credits.release(int(req.get("count") or 1))
    return {}


# --- archive -----------------------------------------------------------------------------------------------------

class CapReached(Exception):
    pass


class ChunkWriter:
    """A write-only, unseekable file for zipfile: bytes go out as stream chunks, counted against the cap."""

    def __init__(self, stream, cap):
        self.stream = stream
        self.cap = cap
        self.written = 0
        self.buffer = bytearray()

    def write(self, data):
        self.written += len(data)
        if self.written > self.cap:
            raise CapReached()
        self.buffer += data
        if len(self.buffer) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self):
        if self.buffer:
            if not self.stream.send(bytes(self.buffer)):
                raise CapReached()
            self.buffer.clear()

    def tell(self):
        return self.written

    def close(self):
        pass


def archive_members(req, paths):
    """Every path resolved before a byte is written: (real path, name in the archive). Refusals name the path."""
    members = []
    for path in paths:
        if not isinstance(path, str):
            raise agent.Fail("bad_request", "paths must be strings.")
        real = agent.resolve(dict(req, cwd=agent.HOME), path)
        if not os.path.lexists(real):
            raise agent.Fail("not_found", f"Path not found: {path}")
        members.append((real, os.path.basename(real) or "home"))
    return members


def add_file(zf, real, name, out, budget):
    """One regular file, opened without following a link; its bytes count against the cap as they are read."""
    try:
        fd = agent.open_nofollow(real, os.O_RDONLY)
    except (OSError, agent.Fail):
        return
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return
        info = zipfile.ZipInfo(name, time.localtime(max(st.st_mtime, 315532800))[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IMODE(st.st_mode) | stat.S_IFREG) << 16
        with zf.open(info, "w", force_zip64=True) as entry:
            while True:
                data = f.read(CHUNK)
                if not data:
                    break
                budget[0] += len(data)
                if budget[0] > out.cap:
                    raise CapReached()
                entry.write(data)


def op_archive(req):
    paths = req.get("paths") or []
    if not paths:
        raise agent.Fail("bad_request", "No paths provided")
    members = archive_members(req, paths)
    cap = int(req["max_archive_bytes"])
    stream = open_stream(req["id"])
    out = ChunkWriter(stream, cap)
    # Read bytes count too: a 100 GB sparse file compresses to almost nothing and would keep the sandbox busy for hours.
    budget = [0]
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for real, name in members:
                st = os.lstat(real)
                if stat.S_ISREG(st.st_mode):
                    add_file(zf, real, name, out, budget)
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    continue
                # walk() opens each directory with O_NOFOLLOW and never descends into a link; links are left out.
                for dirpath, dirnames, filenames in agent.walk(real):
                    rel = os.path.relpath(dirpath, real)
                    prefix = name if rel == "." else f"{name}/{rel}"
                    if not filenames and not dirnames:
                        zf.writestr(zipfile.ZipInfo(prefix + "/"), b"")
                    for file in filenames:
                        add_file(zf, os.path.join(dirpath, file), f"{prefix}/{file}", out, budget)
        out.flush()
    except CapReached:
        raise agent.Fail("too_large", f"The archive is larger than the {cap} bytes this server sends; it was cut off.")
    finally:
        stream.closed = True
        drop_stream(stream)
    return {"bytes": out.written}


# --- ports -------------------------------------------------------------------------------------------------------

def socket_owners():
    """socket inode -> pid, from every process of this sandbox (all of them run as this user)."""
    owners = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    owners.setdefault(target[8:-1], int(pid))
        except OSError:
            continue
    return owners


def op_ports(req):
    """TCP listeners of this sandbox's own network namespace (open-terminal's /ports shape): the sandbox has no other
    network, so every listener is the user's."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) < 10 or cols[3] != "0A":
                continue
            port = int(cols[1].rsplit(":", 1)[1], 16)
            found.setdefault(port, cols[9])
    owners = socket_owners() if found else {}
    ports = []
    for port in sorted(found):
        pid = owners.get(found[port])
        name = None
        if pid is not None:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    name = f.read().strip()
            except OSError:
                pid = None
        ports.append({"port": port, "pid": pid, "process": name})
    return {"ports": ports}


# --- relay (previews) --------------------------------------------------------------------------------------------

def op_connect(req):
    """Connects to a server listening on this sandbox's loopback and relays its bytes as stream chunks."""
    port = int(req["port"])
    if not 1 <= port <= 65535:
        raise agent.Fail("bad_request", "Port must be between 1 and 65535")
    last = None
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(float(req.get("connect_timeout") or 5))
        try:
            sock.connect((address, port))
            break
        except OSError as e:
            sock.close()
            sock, last = None, e
    if sock is None:
        code = "timeout" if isinstance(last, socket.timeout) else "refused"
        raise agent.Fail(code, f"Connection refused: localhost:{port}" if code == "refused" else f"Timeout connecting to localhost:{port}")
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = open_stream(req["id"])
    stream.sock = sock
    threading.Thread(target=pump_socket, args=(stream,), daemon=True).start()
    return {"connected": True}


def pump_socket(stream):
    # Chunks may overtake connect's own "ok" line: the host registered the stream before it asked, so it keeps them.
    try:
        while not stream.closed:
            try:
                data = stream.sock.recv(CHUNK)
            except OSError:
                break
            if not data or not stream.send(data):
                break
    finally:
        if not stream.closed:
            agent.send({"id": stream.id, "eof": True})


def op_send(req):
    stream = get_stream(req)
    data = base64.b64decode(req["base64"])
    try:
        stream.sock.sendall(data)
    except OSError as e:
        raise agent.Fail("bad_request", f"The connection is closed: {e.strerror}")
    return {}


def op_shutdown(req):
    stream = get_stream(req)
    try:
        stream.sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    return {}


def op_close(req):
    with _streams_lock:
        stream = _streams.pop(req.get("stream"), None)
    if stream is not None:
        stream.closed = True
        stream.credits.release(WINDOW)
        if stream.sock is not None:
            try:
                stream.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            stream.sock.close()
    return {}


OPS = {
    "archive": op_archive, "ports": op_ports, "connect": op_connect, "send": op_send, "shutdown": op_shutdown,
    "close": op_close, "credit": op_credit,
}
