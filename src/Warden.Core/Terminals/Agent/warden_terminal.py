"""Warden's terminal agent: runs inside ONE user's sandbox, as that user, with only their home writable.

It runs the user's commands (in the background, with output kept per command), and does the file operations of the
Open Terminal API. The sandbox is the security boundary: nothing of any other user exists in here. The path checks
below keep every operation inside the home as well (no traversal, no symlink out of it), so a link to /usr or /proc
is refused the same way a link to another user's files would be.

Protocol (stdin/stdout, one JSON object per line; see Terminals/README.md):
  request  {"id": N, "op": "...", ...}
  response {"id": N, "ok": true, "result": ...} or {"id": N, "ok": false, "code": "...", "message": "..."}
The agent first prints {"id": 0, "ready": true}. Requests are handled concurrently (a thread each), so a long
status wait never blocks a file read. Configuration comes from WARDEN_TERMINAL_* variables, which commands never see.
Interactive terminals (PTYs) add unsolicited events {"event": "pty_output"|"pty_exit", "terminal": ID, ...} and
notifications without an id (pty_input, pty_resize, pty_ack), handled in order on the reading thread, never answered.
"""
import base64
import codecs
import fcntl
import fnmatch
import json
import mimetypes
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
import queue

CONFIG = {k: v for k, v in os.environ.items() if k.startswith("WARDEN_TERMINAL_")}
HOME = os.environ.get("HOME", "/home/user")
MAX_RUNNING = int(CONFIG.get("WARDEN_TERMINAL_MAX_RUNNING", "8"))
MAX_SECONDS = float(CONFIG.get("WARDEN_TERMINAL_MAX_COMMAND_SECONDS", "3600"))
MAX_LOG = int(CONFIG.get("WARDEN_TERMINAL_MAX_LOG_BYTES", str(4 << 20)))
RETENTION = float(CONFIG.get("WARDEN_TERMINAL_RETENTION_SECONDS", "300"))
MAX_NEW = int(CONFIG.get("WARDEN_TERMINAL_MAX_FILES_PER_EXECUTION", "0"))
MAX_FILES = int(CONFIG.get("WARDEN_TERMINAL_MAX_FILES_PER_USER", "0"))
MAX_BYTES = int(CONFIG.get("WARDEN_TERMINAL_MAX_BYTES_PER_USER", "0"))
EVICT = CONFIG.get("WARDEN_TERMINAL_QUOTA_MODE", "reject").lower() == "evict"
EVICT_FREE_BYTES = int(CONFIG.get("WARDEN_TERMINAL_EVICT_FREE_BYTES", "0"))
EVICT_FREE_FILES = int(CONFIG.get("WARDEN_TERMINAL_EVICT_FREE_FILES", "0"))
# A home shared by a policy's users: files made here are the group's to read and write (the home is setgid to it).
if CONFIG.get("WARDEN_TERMINAL_UMASK"):
    os.umask(int(CONFIG["WARDEN_TERMINAL_UMASK"], 8))
COMMAND_ENV = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_TERMINAL_")}
for k in list(os.environ):
    if k.startswith("WARDEN_TERMINAL_"):
        del os.environ[k]

_out = None
_out_lock = threading.Lock()
_procs = {}
_procs_lock = threading.Lock()
_quota_lock = threading.Lock()


class Fail(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def send(obj):
    # Names that are not UTF-8 reach here as lone surrogates (surrogateescape): shown with U+FFFD, so every line the
    # host reads is valid UTF-8 JSON (a line it cannot parse would leave its request waiting).
    text = json.dumps(obj, ensure_ascii=False) + "\n"
    line = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").encode("utf-8")
    with _out_lock:
        _out.write(line)
        _out.flush()


# --- paths -------------------------------------------------------------------------------------------------------

def inside(real):
    return real == HOME or real.startswith(HOME + "/")


def base_dir(req):
    cwd = req.get("cwd") or HOME
    real = os.path.realpath(cwd)
    if not inside(real):
        raise Fail("forbidden", f"The working directory {cwd} is outside the home directory {HOME}.")
    if req.get("make_cwd"):
        os.makedirs(real, exist_ok=True)
    return real


def joined(req, path):
    if path is None or path == "":
        path = "."
    if "\0" in path:
        raise Fail("bad_request", "The path contains a NUL character.")
    if path == "~" or path.startswith("~/"):
        path = HOME + path[1:]
    return path if path.startswith("/") else os.path.join(base_dir(req), path)


def resolve(req, path):
    """The real path (every symlink resolved) of path; refused unless it stays inside the home."""
    full = joined(req, path)
    real = os.path.realpath(full)
    if not inside(real):
        raise Fail("forbidden", f"{path} is outside the home directory {HOME} (or a symlink leads out of it).")
    return real


def resolve_entry(req, path):
    """For operations on the entry itself (delete, move): the parent is resolved, the last component is not followed."""
    full = os.path.normpath(joined(req, path))
    parent = os.path.realpath(os.path.dirname(full))
    real = os.path.join(parent, os.path.basename(full))
    if not inside(parent) or not inside(os.path.normpath(real)) or os.path.normpath(real) == HOME:
        raise Fail("forbidden", f"{path} is outside the home directory {HOME} (or a symlink leads out of it).")
    return os.path.normpath(real)


def open_nofollow(real, flags, mode=0o644):
    """Opens without following a final link and without blocking: a FIFO opens at once (and is refused by the caller's
    fstat), a socket fails with ENXIO. What is used is what fstat saw on the descriptor, never a name checked before."""
    try:
        return os.open(real, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY, mode)
    except OSError as e:
        if e.errno == 40:  # ELOOP: the last component became a link after it was resolved
            raise Fail("forbidden", f"{real} is a symbolic link.")
        raise


def read_bytes(real, limit):
    fd = open_nofollow(real, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise Fail("not_found", f"{real} is not a regular file.")
        if st.st_size > limit:  # a 100 GB sparse file is refused by its size, not read up to the limit
            raise Fail("too_large", f"{real} is larger than the {limit} bytes this server reads.")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise Fail("too_large", f"{real} is larger than the {limit} bytes this server reads.")
    return data


def write_bytes(real, data):
    os.makedirs(os.path.dirname(real), exist_ok=True)
    # Truncated only once fstat says it is a regular file: a FIFO with a reader would otherwise take the write (and
    # block it), one without fails to open (ENXIO).
    fd = open_nofollow(real, os.O_WRONLY | os.O_CREAT)
    with os.fdopen(fd, "wb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise Fail("bad_request", f"{real} is not a regular file.")
        os.ftruncate(f.fileno(), 0)
        f.write(data)


# --- quotas ------------------------------------------------------------------------------------------------------
# The home is a filesystem of the quota's size (and file count): the kernel refuses a write past it with ENOSPC, at once,
# whatever writes. The counts below come on top: a clear 507 before an API write, safe-code-execution's eviction, notes.

def room():
    """Free bytes and free inodes of the home's own filesystem: the kernel's bound."""
    st = os.statvfs(HOME)
    return st.f_bavail * st.f_frsize, st.f_favail


# Walks are iterative and bounded: os.walk and shutil.rmtree recurse in this Python (3.11) and a tree 10,000 levels deep
# would kill the request's thread with RecursionError, leaving the request without an answer.
MAX_WALK_DEPTH = 64
MAX_WALK_ENTRIES = 100000
MAX_SCAN_ENTRIES = 1000000
MAX_LIST_ENTRIES = 10000
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def walk(root, max_depth=MAX_WALK_DEPTH, max_entries=MAX_WALK_ENTRIES):
    """Like os.walk (top-down, dirnames may be pruned in place) but iterative, bounded in depth and entries, sorted, and
    never entering a link: each directory is opened with O_NOFOLLOW and listed from its descriptor."""
    stack = [(root, 0)]
    seen = 0
    while stack:
        path, depth = stack.pop()
        try:
            fd = os.open(path, DIR_FLAGS)
        except OSError:
            continue
        dirnames, filenames = [], []
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_entries:
                        break
                    try:
                        (dirnames if entry.is_dir(follow_symlinks=False) else filenames).append(entry.name)
                    except OSError:
                        continue
        except OSError:
            continue
        finally:
            os.close(fd)
        dirnames.sort()
        filenames.sort()
        yield path, dirnames, filenames
        if seen > max_entries:
            return
        if depth < max_depth:
            stack.extend((os.path.join(path, d), depth + 1) for d in reversed(dirnames))


def scan():
    """Every non-directory entry of the home: (mtime, path, bytes allocated). Links are counted, never followed."""
    found = []
    for dirpath, dirnames, filenames in walk(HOME, max_entries=MAX_SCAN_ENTRIES):
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            found.append((st.st_mtime, path, st.st_blocks * 512))
    return found


def over(files, total):
    reasons = []
    if MAX_FILES and files > MAX_FILES:
        reasons.append(f"{files} files (limit {MAX_FILES})")
    if MAX_BYTES and total > MAX_BYTES:
        reasons.append(f"{total / 1048576:.1f} MB (limit {MAX_BYTES / 1048576:.0f} MB)")
    return reasons


def make_room(extra_files, extra_bytes, keep=()):
    """Brings the home under its quota with room for what is about to be written: evicts the oldest files (Evict mode)
    or refuses (Reject mode). Returns the evicted paths."""
    if not MAX_FILES and not MAX_BYTES:
        return []
    with _quota_lock:
        entries = sorted(scan())
        files = len(entries) + extra_files
        total = sum(e[2] for e in entries) + extra_bytes
        if not over(files, total):
            return []
        if not EVICT:
            raise Fail("quota", "Quota exceeded: the home would hold " + " and ".join(over(files, total)) +
                       ". Delete files to make room.")
        evicted = []
        for _, path, size in entries:
            if not over(files, total):
                break
            if path in keep:
                continue
            try:
                os.unlink(path)
            except OSError:
                continue
            evicted.append(path)
            files -= 1
            total -= size
        if over(files, total):
            raise Fail("quota", "Quota exceeded even after evicting the oldest files: " + " and ".join(over(files, total)) + ".")
        return evicted


def make_headroom():
    """Evict mode, before a command: the oldest files go until the home has room for one file as large as a command may
    write and for its share of new files. Nothing can be evicted while the command runs: the kernel stops it at the quota."""
    if not EVICT:
        return []
    with _quota_lock:
        evicted = []
        for _, path, _ in sorted(scan()):
            free_bytes, free_files = room()
            if free_bytes >= EVICT_FREE_BYTES and free_files >= EVICT_FREE_FILES:
                break
            try:
                os.unlink(path)
            except OSError:
                continue
            evicted.append(path)
        return evicted


# --- commands ----------------------------------------------------------------------------------------------------

class Proc:
    def __init__(self, pid_id, command, popen, before):
        self.id = pid_id
        self.command = command
        self.popen = popen
        self.before = before
        self.started = time.time()
        self.entries = []
        self.dropped = 0
        self.size = 0
        self.status = "running"
        self.exit_code = None
        self.finished = None
        self.killed = False
        self.cond = threading.Condition()

    def add(self, kind, data):
        with self.cond:
            self.entries.append({"type": kind, "data": data})
            self.size += len(data)
            if self.size > MAX_LOG:
                # Keep the newest half, as open-terminal's log rotation does; offsets stay absolute.
                cut = max(1, len(self.entries) // 2)
                self.size -= sum(len(e["data"]) for e in self.entries[:cut])
                del self.entries[:cut]
                self.dropped += cut
            self.cond.notify_all()

    def view(self, offset, tail):
        with self.cond:
            total = self.dropped + len(self.entries)
            truncated = offset < self.dropped
            start = max(offset, self.dropped) - self.dropped
            out = self.entries[start:]
            if tail is not None and len(out) > tail:
                out = out[-tail:]
                truncated = True
            return {"id": self.id, "command": self.command, "status": self.status, "exit_code": self.exit_code,
                    "output": list(out), "truncated": truncated, "next_offset": total, "log_path": None}

    def signal(self, force):
        try:
            os.killpg(self.popen.pid, signal.SIGKILL if force else signal.SIGTERM)
        except OSError:
            pass


def pump(proc, stream, kind):
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    fd = stream.fileno()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        text = decoder.decode(chunk)
        if text:
            proc.add(kind, text)
    tail = decoder.decode(b"", final=True)
    if tail:
        proc.add(kind, tail)
    # A finished command's pipes are kept for RETENTION with its log: close ours now, or a busy chat runs the agent
    # out of descriptors (EMFILE after ~170 commands in 5 minutes). Only this thread reads the stream.
    stream.close()


def supervise(proc, readers):
    deadline = proc.started + MAX_SECONDS
    while True:
        try:
            code = proc.popen.wait(timeout=max(0.05, deadline - time.time()))
            break
        except subprocess.TimeoutExpired:
            proc.add("stderr", f"\n[warden] The command ran longer than {MAX_SECONDS:g} s and was killed.\n")
            proc.killed = True
            proc.signal(force=True)
    # Background children of the command may keep its pipes open; give the readers a moment, then report it done.
    for reader in readers:
        reader.join(timeout=0.5)
    notes = after_command(proc)
    try:
        proc.popen.stdin.close()  # the command is gone; nothing can read what op_input would write
    except OSError:
        pass
    with proc.cond:
        for note in notes:
            proc.entries.append({"type": "stderr", "data": note})
        proc.exit_code = code
        proc.status = "killed" if proc.killed else "done"
        proc.finished = time.time()
        proc.cond.notify_all()


def after_command(proc):
    """safe-code-execution's quotas after a command: new files beyond MAX_NEW are removed (newest first), then the user quota."""
    notes = []
    if MAX_NEW and proc.before is not None:
        new = sorted((e for e in scan() if e[1] not in proc.before), reverse=True)
        excess = new[:max(0, len(new) - MAX_NEW)]
        for _, path, _ in excess:
            try:
                os.unlink(path)
            except OSError:
                pass
        if excess:
            notes.append(f"\n[warden] The command created {len(new)} new files; {MAX_NEW} are kept per command "
                         f"(MaxFilesPerExecution); removed the {len(excess)} newest.\n")
    try:
        evicted = make_room(0, 0)
        if evicted:
            notes.append(f"\n[warden] Over quota: evicted the {len(evicted)} oldest files: {', '.join(evicted[:20])}\n")
    except Fail as e:
        notes.append(f"\n[warden] {e.message}\n")
    free_bytes, free_files = room()
    if free_files == 0 or free_bytes < max(1 << 20, MAX_BYTES // 100):
        notes.append(f"\n[warden] Your home is full ({free_bytes / 1048576:.1f} MB and {free_files} files free of its quota of "
                     f"{MAX_BYTES / 1048576:.0f} MB and {MAX_FILES or 'unlimited'} files): writes fail with 'No space left on device'. "
                     "Delete files to make room.\n")
    return notes


def expire():
    now = time.time()
    with _procs_lock:
        for key in [k for k, p in _procs.items() if p.finished and now - p.finished > RETENTION]:
            del _procs[key]


def get_proc(req):
    expire()
    with _procs_lock:
        proc = _procs.get(req.get("process"))
    if proc is None:
        raise Fail("process_not_found", "No such process (it may have finished more than a few minutes ago).")
    return proc


def op_start(req):
    expire()
    with _procs_lock:
        running = sum(1 for p in _procs.values() if p.status == "running")
        if running >= MAX_RUNNING:
            raise Fail("too_many", f"{running} commands are already running (the limit is {MAX_RUNNING}); "
                                   "wait for one or kill one first.")
    cwd = resolve(req, req["dir"]) if req.get("dir") else base_dir(req)
    if not os.path.isdir(cwd):
        raise Fail("not_found", f"The working directory {cwd} does not exist.")
    env = dict(COMMAND_ENV)
    env.update({str(k): str(v) for k, v in (req.get("env") or {}).items()})
    evicted = make_headroom()
    before = {e[1] for e in scan()} if MAX_NEW else None
    popen = subprocess.Popen(["/bin/bash", "-c", req["command"]], cwd=cwd, env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGPIPE, signal.SIG_DFL))
    proc = Proc(req["process"], req["command"], popen, before)
    if evicted:
        proc.add("stderr", f"[warden] Made room for this command: evicted the {len(evicted)} oldest files: {', '.join(evicted[:20])}\n")
    readers = [threading.Thread(target=pump, args=(proc, popen.stdout, "stdout"), daemon=True),
               threading.Thread(target=pump, args=(proc, popen.stderr, "stderr"), daemon=True)]
    for reader in readers:
        reader.start()
    with _procs_lock:
        _procs[proc.id] = proc
    threading.Thread(target=supervise, args=(proc, readers), daemon=True).start()
    return op_status({"process": proc.id, "wait": req.get("wait"), "tail": req.get("tail"), "offset": 0})


def op_status(req):
    proc = get_proc(req)
    wait = req.get("wait")
    if wait:
        deadline = time.time() + float(wait)
        with proc.cond:
            while proc.status == "running" and time.time() < deadline:
                proc.cond.wait(timeout=deadline - time.time())
    return proc.view(int(req.get("offset") or 0), req.get("tail"))


def op_input(req):
    proc = get_proc(req)
    if proc.status != "running":
        raise Fail("bad_request", "The process has already exited.")
    text = req["input"]
    try:
        # LLMs write escape sequences literally (\\n, \\x03); open-terminal decodes them the same way.
        text = text.encode("raw_unicode_escape").decode("unicode_escape")
    except UnicodeDecodeError:
        pass
    try:
        proc.popen.stdin.write(text.encode("utf-8", "surrogateescape"))
        proc.popen.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        raise Fail("bad_request", "The process's stdin is closed.")
    return {"status": "ok"}


def op_kill(req):
    proc = get_proc(req)
    if proc.status == "running":
        proc.killed = True
        proc.signal(bool(req.get("force")))
        with proc.cond:
            deadline = time.time() + 5
            while proc.status == "running" and time.time() < deadline:
                proc.cond.wait(timeout=deadline - time.time())
        if proc.status == "running":
            proc.signal(True)
    return {"status": "killed"}


def op_list(req):
    expire()
    with _procs_lock:
        procs = list(_procs.values())
    return [{"id": p.id, "command": p.command, "status": p.status, "exit_code": p.exit_code, "log_path": None}
            for p in sorted(procs, key=lambda p: p.started)]


# --- files -------------------------------------------------------------------------------------------------------

def entry_info(path, name):
    st = os.lstat(path)
    return {"name": name, "type": "directory" if stat.S_ISDIR(st.st_mode) else "file", "size": st.st_size,
            "modified": st.st_mtime, "writable": os.access(path, os.W_OK, follow_symlinks=False)}


def op_list_files(req):
    target = resolve(req, req.get("directory") or ".")
    if not os.path.isdir(target):
        raise Fail("not_found", "Directory not found")
    names, truncated = [], False
    fd = os.open(target, DIR_FLAGS)
    try:
        with os.scandir(fd) as listing:
            for entry in listing:
                if len(names) >= MAX_LIST_ENTRIES:
                    truncated = True
                    break
                names.append(entry.name)
    finally:
        os.close(fd)
    entries = []
    for name in sorted(names):
        try:
            entries.append(entry_info(os.path.join(target, name), name))
        except OSError:
            continue
    result = {"dir": target, "writable": os.access(target, os.W_OK), "entries": entries}
    if truncated:
        result["truncated"] = True
    return result


def is_file(real):
    try:
        return stat.S_ISREG(os.lstat(real).st_mode)
    except OSError:
        return False


def op_read(req):
    target = resolve(req, req["path"])
    if not is_file(target):
        raise Fail("not_found", "File not found")
    raw = read_bytes(target, int(req["max_bytes"]))
    try:
        lines = raw.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        mime = mimetypes.guess_type(target)[0] or "application/octet-stream"
        if mime.startswith("image/"):
            return {"path": target, "mime": mime, "base64": base64.b64encode(raw).decode()}
        raise Fail("unsupported_media", f"Unsupported binary file type: {mime} ({len(raw)} bytes)")
    start = (req.get("start_line") or 1) - 1
    end = req.get("end_line") or len(lines)
    return {"path": target, "total_lines": len(lines), "content": "".join(lines[start:end])}


def op_view(req):
    target = resolve(req, req["path"])
    if not is_file(target):
        raise Fail("not_found", "File not found")
    raw = read_bytes(target, int(req["max_bytes"]))
    mime = mimetypes.guess_type(target)[0] or "application/octet-stream"
    return {"path": target, "mime": mime, "base64": base64.b64encode(raw).decode()}


def op_display(req):
    target = resolve(req, req["path"])
    return {"path": target, "exists": is_file(target)}


def op_write(req):
    target = resolve(req, req["path"])
    if os.path.isdir(target):
        raise Fail("bad_request", f"{target} is a directory.")
    data = base64.b64decode(req["base64"]) if "base64" in req else req["content"].encode("utf-8")
    existing = os.lstat(target).st_size if os.path.lexists(target) else None
    make_room(0 if existing is not None else 1, len(data) - (existing or 0), keep={target})
    write_bytes(target, data)
    return {"path": target, "size": len(data)}


def op_replace(req):
    target = resolve(req, req["path"])
    if not is_file(target):
        raise Fail("not_found", "File not found")
    try:
        content = read_bytes(target, int(req["max_bytes"])).decode("utf-8")
    except UnicodeDecodeError:
        raise Fail("bad_request", "The file is not UTF-8 text.")
    for chunk in req["replacements"]:
        find, repl = chunk["target"], chunk["replacement"]
        ranged = chunk.get("start_line") or chunk.get("end_line")
        if ranged:
            lines = content.splitlines(keepends=True)
            start = (chunk.get("start_line") or 1) - 1
            end = chunk.get("end_line") or len(lines)
            region = "".join(lines[start:end])
        else:
            region = content
        count = region.count(find) if find else 0
        if count == 0:
            raise Fail("bad_request", f"Target string not found: {find[:100]!r}")
        if count > 1 and not chunk.get("allow_multiple"):
            raise Fail("bad_request", f"Found {count} occurrences of target string but allow_multiple is false")
        if ranged:
            lines[start:end] = [region.replace(find, repl)]
            content = "".join(lines)
        else:
            content = content.replace(find, repl)
    data = content.encode("utf-8")
    make_room(0, len(data) - os.lstat(target).st_size, keep={target})
    write_bytes(target, data)
    return {"path": target, "size": len(data)}


def op_grep(req):
    target = resolve(req, req.get("path") or ".")
    if not os.path.lexists(target):
        raise Fail("not_found", "Search path not found")
    flags = re.IGNORECASE if req.get("case_insensitive") else 0
    try:
        pattern = re.compile(req["query"] if req.get("regex", True) else re.escape(req["query"]), flags)
    except re.error as e:
        raise Fail("bad_request", f"Invalid regex: {e}")
    include = req.get("include") or []
    per_line = req.get("match_per_line", True)
    limit = int(req.get("max_results") or 50)
    matches = []

    def search(path):
        try:
            fd = open_nofollow(path, os.O_RDONLY)
        except (OSError, Fail):
            return False
        with os.fdopen(fd, "r", encoding="utf-8", errors="strict") as f:
            try:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode) or os.fstat(f.fileno()).st_size > 8 << 20:
                    return False
                for number, line in enumerate(f, 1):
                    if pattern.search(line):
                        matches.append({"file": path, "line": number, "content": line.rstrip("\r\n")} if per_line else {"file": path})
                        if len(matches) >= limit:
                            return True
                        if not per_line:
                            return False
            except (UnicodeDecodeError, ValueError, OSError):
                pass
        return False

    if is_file(target):
        truncated = search(target)
    else:
        truncated = False
        for dirpath, _, filenames in walk(target):
            for name in filenames:
                if include and not any(fnmatch.fnmatch(name, g) for g in include):
                    continue
                if search(os.path.join(dirpath, name)):
                    truncated = True
                    break
            if truncated:
                break
    return {"query": req["query"], "path": target, "matches": matches, "truncated": truncated}


def op_glob(req):
    target = resolve(req, req.get("path") or ".")
    if not os.path.isdir(target):
        raise Fail("not_found", "Search directory not found")
    pattern, exclude = req["pattern"], req.get("exclude") or []
    kind = req.get("type") or "any"
    limit = int(req.get("max_results") or 50)
    matches, truncated = [], False
    for dirpath, dirnames, filenames in walk(target):
        entries = ([(d, "directory") for d in dirnames] if kind in ("any", "directory") else []) + \
                  ([(f, "file") for f in filenames] if kind in ("any", "file") else [])
        for name, entry_type in sorted(entries):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, target)
            if not (fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(rel, pattern)):
                continue
            if any(fnmatch.fnmatch(name, x) or fnmatch.fnmatch(rel, x) for x in exclude):
                continue
            try:
                st = os.lstat(full)
            except OSError:
                continue
            matches.append({"path": rel, "type": entry_type, "size": st.st_size, "modified": st.st_mtime})
            if len(matches) >= limit:
                truncated = True
                break
        if truncated:
            break
    return {"pattern": pattern, "path": target, "matches": matches, "truncated": truncated}


def op_mkdir(req):
    target = resolve(req, req["path"])
    os.makedirs(target, exist_ok=True)
    return {"path": target}


def op_delete(req):
    target = resolve_entry(req, req["path"])
    if not os.path.lexists(target):
        raise Fail("not_found", "Path not found")
    is_dir = os.path.isdir(target) and not os.path.islink(target)
    if is_dir:
        remove_tree(target)
    else:
        os.unlink(target)
    return {"path": target, "type": "directory" if is_dir else "file"}


def remove_tree(root):
    """Removes a directory tree without following links, at any depth and without recursion past a few levels:
    directories deeper than HOIST_DEPTH are first renamed up into the root, then emptied from there."""
    HOIST_DEPTH = 16
    hoisted = [0]
    root_fd = os.open(root, DIR_FLAGS)

    def empty(dir_fd, depth):
        while True:
            # Removing while listing may skip entries: list a batch (scandir rewinds on close), remove it, start over.
            with os.scandir(dir_fd) as listing:
                batch = []
                for entry in listing:
                    try:
                        batch.append((entry.name, entry.is_dir(follow_symlinks=False)))
                    except OSError:
                        batch.append((entry.name, False))
                    if len(batch) >= 4096:
                        break
            if not batch:
                return
            progress = 0
            for name, is_dir in batch:
                try:
                    if not is_dir:
                        os.unlink(name, dir_fd=dir_fd)
                    elif depth + 1 >= HOIST_DEPTH:
                        hoisted[0] += 1
                        os.rename(name, ".warden-removing-%d" % hoisted[0], src_dir_fd=dir_fd, dst_dir_fd=root_fd)
                    else:
                        child = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
                        try:
                            empty(child, depth + 1)
                        finally:
                            os.close(child)
                        os.rmdir(name, dir_fd=dir_fd)
                    progress += 1
                except OSError:
                    continue
            if not progress:
                raise Fail("forbidden", f"Some entries of {root} cannot be removed.")

    try:
        empty(root_fd, 0)
    finally:
        os.close(root_fd)
    os.rmdir(root)


def op_move(req):
    source = resolve_entry(req, req["source"])
    destination = resolve_entry(req, req["destination"])
    if not os.path.lexists(source):
        raise Fail("not_found", "Source path not found")
    if not os.path.isdir(os.path.dirname(destination)):
        raise Fail("bad_request", "Destination parent directory not found")
    if os.path.lexists(destination):
        raise Fail("conflict", "Destination already exists")
    os.rename(source, destination)
    return {"source": source, "destination": destination}


def op_stat_dir(req):
    target = resolve(req, req["path"])
    return {"path": target, "is_dir": os.path.isdir(target)}


def op_usage(req):
    entries = scan()
    return {"files": len(entries), "bytes": sum(e[2] for e in entries)}


# --- interactive terminals (PTYs) ---------------------------------------------------------------------------------
# A terminal is a login shell on a pseudo-terminal of this sandbox, as the user, in the chat's directory. Its output goes
# to the host as pty_output events. Flow control is back-pressure, not loss: the host acknowledges what it delivered
# (pty_ack) and this side stops reading the PTY while PTY_WINDOW bytes are unacknowledged, so a slow WebSocket stalls
# the writer in the kernel's PTY buffer (as a slow real terminal does) and no buffer anywhere grows without bound.

PTY_TERM = CONFIG.get("WARDEN_TERMINAL_PTY_TERM", "xterm-256color")
PTY_MAX = int(CONFIG.get("WARDEN_TERMINAL_MAX_PTYS", "4"))
PTY_WINDOW = int(CONFIG.get("WARDEN_TERMINAL_PTY_WINDOW", str(256 << 10)))
PTY_INPUT_MAX = 1 << 20  # keystrokes waiting for a shell that does not read; beyond it, input is dropped
PTY_SHELL = COMMAND_ENV.get("SHELL") or "/bin/bash"
_ptys = {}
_ptys_lock = threading.Lock()


class Pty:
    def __init__(self, terminal, popen, master):
        self.id = terminal
        self.popen = popen
        self.master = master
        self.cond = threading.Condition()
        self.unacked = 0
        self.closed = False
        self.inputs = queue.Queue()
        self.pending_input = 0


def winsize(rows, cols):
    rows = min(max(int(rows), 1), 1000)
    cols = min(max(int(cols), 1), 1000)
    return struct.pack("HHHH", rows, cols, 0, 0)


def pty_child_setup():
    # Runs in the child after setsid (start_new_session): the PTY on fd 0 becomes the new session's controlling
    # terminal, so job control, ^C and SIGWINCH reach the shell's foreground job.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def op_pty_open(req):
    terminal = str(req["terminal"])
    with _ptys_lock:
        if terminal in _ptys:
            raise Fail("conflict", "A terminal with this id exists.")
        if len(_ptys) >= PTY_MAX:
            raise Fail("too_many_terminals", f"Maximum number of terminal sessions ({PTY_MAX}) reached")
        _ptys[terminal] = None  # reserved: a concurrent open counts against the cap
    try:
        cwd = resolve(req, req["dir"]) if req.get("dir") else base_dir(req)
        if not os.path.isdir(cwd):
            raise Fail("not_found", f"The working directory {cwd} does not exist.")
        master, slave = os.openpty()
        try:
            fcntl.ioctl(master, termios.TIOCSWINSZ, winsize(req.get("rows") or 24, req.get("cols") or 80))
            env = dict(COMMAND_ENV)
            env["TERM"] = PTY_TERM
            env["PWD"] = cwd
            popen = subprocess.Popen([PTY_SHELL, "-l"], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                                     start_new_session=True, preexec_fn=pty_child_setup, close_fds=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
    except BaseException:
        with _ptys_lock:
            _ptys.pop(terminal, None)
        raise
    pty = Pty(terminal, popen, master)
    with _ptys_lock:
        _ptys[terminal] = pty
    threading.Thread(target=pty_pump, args=(pty,), daemon=True).start()
    threading.Thread(target=pty_write, args=(pty,), daemon=True).start()
    threading.Thread(target=pty_wait, args=(pty,), daemon=True).start()
    return {"terminal": terminal, "pid": popen.pid, "cwd": cwd}


def pty_pump(pty):
    while True:
        with pty.cond:
            while pty.unacked >= PTY_WINDOW and not pty.closed:
                pty.cond.wait()
            if pty.closed:
                return
        try:
            chunk = os.read(pty.master, 65536)
        except OSError:  # EIO: every process holding the terminal's other end is gone; EBADF: closed meanwhile
            return
        if not chunk:
            return
        with pty.cond:
            pty.unacked += len(chunk)
        send({"event": "pty_output", "terminal": pty.id, "data": base64.b64encode(chunk).decode()})


def pty_write(pty):
    while True:
        data = pty.inputs.get()
        if data is None:
            return
        with pty.cond:
            pty.pending_input -= len(data)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(pty.master, view):]
        except OSError:
            return


def pty_wait(pty):
    """The shell's exit ends the terminal, as open-terminal's does: what it left running in its session goes too."""
    code = pty.popen.wait()
    close_pty(pty.id)
    send({"event": "pty_exit", "terminal": pty.id, "code": code})


def session_members(sid):
    """Live processes of the terminal's session and every descendant of them (a child that called setsid is found by
    its parent while the parent lives). Zombies are already dead."""
    parents, sessions = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            continue
        pid = int(name)
        parents[pid] = int(fields[1])
        sessions[pid] = int(fields[3])
    found = {pid for pid, s in sessions.items() if s == sid}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if pid not in found and parent in found:
                found.add(pid)
                changed = True
    found.discard(os.getpid())
    return found


def kill_session(sid):
    """SIGHUP (what closing a terminal sends), then SIGKILL until nothing of the session is left (bounded)."""
    for pid in session_members(sid):
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError:
            pass
    deadline = time.time() + 0.5
    while session_members(sid) and time.time() < deadline:
        time.sleep(0.02)
    for _ in range(50):
        members = session_members(sid)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


def close_pty(terminal):
    with _ptys_lock:
        pty = _ptys.get(terminal)
        if pty is None:
            return False
        del _ptys[terminal]
    with pty.cond:
        pty.closed = True
        pty.cond.notify_all()
    kill_session(pty.popen.pid)
    pty.inputs.put(None)
    try:
        pty.popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.close(pty.master)
    except OSError:
        pass
    return True


def op_pty_close(req):
    if not close_pty(str(req["terminal"])):
        raise Fail("not_found", "Session not found")
    return {"status": "deleted"}


def live_pty(req):
    with _ptys_lock:
        return _ptys.get(str(req.get("terminal")))


def pty_input(req):
    pty = live_pty(req)
    if pty is None:
        return
    data = base64.b64decode(req["data"])
    with pty.cond:
        if pty.pending_input + len(data) > PTY_INPUT_MAX:
            return
        pty.pending_input += len(data)
    pty.inputs.put(data)


def pty_resize(req):
    pty = live_pty(req)
    if pty is not None:
        try:
            fcntl.ioctl(pty.master, termios.TIOCSWINSZ, winsize(req.get("rows") or 24, req.get("cols") or 80))
        except OSError:
            pass


def pty_ack(req):
    pty = live_pty(req)
    if pty is not None:
        with pty.cond:
            pty.unacked = max(0, pty.unacked - int(req.get("bytes") or 0))
            pty.cond.notify_all()


# Keystrokes must not wait for a thread to start, and must reach the shell in the order they were typed.
NOTIFICATIONS = {"pty_input": pty_input, "pty_resize": pty_resize, "pty_ack": pty_ack}


OPS = {
    "start": op_start, "status": op_status, "input": op_input, "kill": op_kill, "list": op_list,
    "list_files": op_list_files, "read": op_read, "view": op_view, "display": op_display, "write": op_write,
    "replace": op_replace, "grep": op_grep, "glob": op_glob, "mkdir": op_mkdir, "delete": op_delete, "move": op_move,
    "stat_dir": op_stat_dir, "usage": op_usage, "pty_open": op_pty_open, "pty_close": op_pty_close,
}

# Notebooks (open-terminal's /notebooks): Warden's Python kernel as a child of this agent; see warden_notebooks.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import warden_notebooks  # noqa: E402
OPS.update(warden_notebooks.register(sys.modules[__name__]))


def handle(req):
    try:
        handler = OPS.get(req.get("op"))
        if handler is None:
            raise Fail("bad_request", f"Unknown operation {req.get('op')!r}.")
        send({"id": req["id"], "ok": True, "result": handler(req)})
    except Fail as e:
        send({"id": req["id"], "ok": False, "code": e.code, "message": e.message})
    except FileNotFoundError as e:
        send({"id": req["id"], "ok": False, "code": "not_found", "message": f"Not found: {e.filename}"})
    except PermissionError as e:
        send({"id": req["id"], "ok": False, "code": "forbidden", "message": f"Permission denied: {e.filename}"})
    except OSError as e:
        # Exhausted resources (EAGAIN from fork at the process limit, ENOMEM, EMFILE, ENFILE) are not the caller's bad
        # input: 503, so a client retries rather than rewrites its request.
        code = ("too_large" if e.errno == 27 else "quota" if e.errno in (28, 122)
                else "unavailable" if e.errno in (11, 12, 23, 24) else "bad_request")
        message = f"{e.strerror}: {e.filename or ''}".strip().rstrip(":")
        if code == "quota":
            message = f"Quota exceeded: the home is full ({message}). Delete files to make room."
        send({"id": req["id"], "ok": False, "code": code, "message": message})
    except (KeyError, TypeError, ValueError) as e:
        send({"id": req["id"], "ok": False, "code": "bad_request", "message": f"Malformed request: {e}"})
    except Exception as e:  # noqa: BLE001 - every request gets an answer, whatever a user's files make an operation hit
        send({"id": req.get("id"), "ok": False, "code": "failed", "message": f"The operation failed: {type(e).__name__}: {e}"})


def not_dumpable():
    """The user's commands run under this agent's uid: without this they could open /proc/<agent>/fd/1 and write
    forged protocol lines to Warden, or read the agent's memory. A non-dumpable process's /proc entries belong to root
    and ptrace is refused (prctl(PR_SET_DUMPABLE, 0); exec resets it for the commands themselves)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def main():
    global _out
    not_dumpable()
    _out = os.fdopen(os.dup(1), "wb")
    requests = os.fdopen(os.dup(0), "rb")
    # Commands must never read the protocol or write into it: their stdio is their own pipes; ours go to /dev/null.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.chdir(HOME)
    send({"id": 0, "ready": True})
    for line in requests:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        notification = NOTIFICATIONS.get(req.get("op")) if isinstance(req, dict) and "id" not in req else None
        if notification is not None:
            try:
                notification(req)
            except (KeyError, TypeError, ValueError, OSError):
                pass  # a notification has nobody to answer
            continue
        threading.Thread(target=handle, args=(req,), daemon=True).start()
    # The host closed our stdin: the sandbox is being stopped. Take the user's commands and terminals down with us.
    warden_notebooks.stop_all()
    with _procs_lock:
        for proc in _procs.values():
            if proc.status == "running":
                proc.signal(True)
    with _ptys_lock:
        terminals = [t for t, p in _ptys.items() if p is not None]
    for terminal in terminals:
        close_pty(terminal)


# The operations of Open WebUI's interface (archives, ports, preview relays) live in a module of their own. -I keeps the
# script's directory off sys.path, so it is named explicitly (the support directory is read-only).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import warden_terminal_ui  # noqa: E402

OPS.update(warden_terminal_ui.OPS)

if __name__ == "__main__":
    main()
