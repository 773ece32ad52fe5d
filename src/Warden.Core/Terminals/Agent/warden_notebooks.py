"""Notebooks for the terminal agent: open-terminal's /notebooks, run inside ONE user's sandbox, as that user.

A notebook session is a Warden Python kernel (Sessions/Kernels/warden_kernel.py, bound read-only next to the agent)
started by the agent as its own child: the user's uid, home, cgroup limits and network namespace, nothing else. It dies
with the sandbox, on delete, after being idle, and is killed (then started afresh on the next cell) when an interrupted
cell does not stop. The .ipynb file is read before and written after each cell with the agent's own safe opens
(O_NOFOLLOW, fstat-checked, size-capped, inside the home), so the file on disk is always the truth: a cell index means
the cell of the file as it is now, and edits made between cells are kept.

Operations (registered into the agent's OPS by register()):
  nb_open    {notebook, path}                       -> {"id", "kernel", "status": "ready"}
  nb_execute {notebook, cell_index, source?}        -> {"status": "ok"|"error", "execution_count", "outputs"}
  nb_get     {notebook}                             -> {"id", "path", "kernel", "status": "ready"|"busy"}
  nb_close   {notebook}                             -> {"status": "stopped"}
  nb_list    {}                                     -> [{"id", "path", "pid", "status"}]
"""
import json
import os
import queue
import signal
import subprocess
import threading
import time

KERNEL_BOOT = "import sys; sys.path.insert(0, '/opt/warden'); import warden_kernel; warden_kernel.main()"
KERNEL_START_SECONDS = 30
MAX_KERNEL_LINE = 64 << 20
# nbformat writes these MIME types' strings as lists of lines; everything else (base64 images, JSON) stays as it is.
SPLIT_MIME = ("text/", "image/svg+xml", "application/javascript")

agent = None
MAX_NOTEBOOKS = 4
CELL_SECONDS = 120.0
IDLE_SECONDS = 1800.0
GRACE_SECONDS = 1.0
MAX_OUTPUT = 4 << 20
_sessions = {}
_sessions_lock = threading.Lock()


def register(module):
    """Called by the agent with itself: its path checks, safe opens, quota and configuration are the ones used here."""
    global agent, MAX_NOTEBOOKS, CELL_SECONDS, IDLE_SECONDS, GRACE_SECONDS, MAX_OUTPUT
    agent = module
    config = module.CONFIG
    MAX_NOTEBOOKS = int(config.get("WARDEN_TERMINAL_MAX_NOTEBOOKS", MAX_NOTEBOOKS))
    CELL_SECONDS = float(config.get("WARDEN_TERMINAL_NOTEBOOK_CELL_SECONDS", CELL_SECONDS))
    IDLE_SECONDS = float(config.get("WARDEN_TERMINAL_NOTEBOOK_IDLE_SECONDS", IDLE_SECONDS))
    GRACE_SECONDS = float(config.get("WARDEN_TERMINAL_NOTEBOOK_GRACE_SECONDS", GRACE_SECONDS))
    MAX_OUTPUT = int(config.get("WARDEN_TERMINAL_MAX_LOG_BYTES", MAX_OUTPUT))
    return {"nb_open": op_open, "nb_execute": op_execute, "nb_get": op_get, "nb_close": op_close, "nb_list": op_list}


# --- the notebook file ---------------------------------------------------------------------------------------------

def invalid(reason):
    return agent.Fail("bad_request", f"Invalid notebook: {reason}")


def load(path):
    """The notebook at path (already resolved inside the home), checked to be nbformat 4 as far as a cell run needs."""
    try:
        raw = agent.read_bytes(path, MAX_FILE_BYTES[0])
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise agent.Fail("not_found", f"Notebook not found: {path}")
    except agent.Fail as e:
        if e.code == "not_found":
            raise agent.Fail("not_found", f"Notebook not found: {path}")
        raise
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid("the file is not UTF-8 text")
    except ValueError as e:
        raise invalid(f"not JSON ({e})")
    if not isinstance(nb, dict):
        raise invalid("the top level is not a JSON object")
    if nb.get("nbformat") != 4:
        raise invalid(f"nbformat {nb.get('nbformat')!r} is not 4 (convert it with 'jupyter nbconvert --to notebook')")
    if not isinstance(nb.get("metadata", {}), dict):
        raise invalid("metadata is not an object")
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise invalid("cells is not a list")
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise invalid(f"cell {index} has no cell_type of code, markdown or raw")
        source = cell.get("source", "")
        if not isinstance(source, str) and not (isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise invalid(f"cell {index}'s source is neither a string nor a list of strings")
    return nb


MAX_FILE_BYTES = [32 << 20]


def kernel_name(nb):
    spec = nb.get("metadata", {}).get("kernelspec")
    name = spec.get("name") if isinstance(spec, dict) else None
    return name if isinstance(name, str) and name else "python3"


def joined(text):
    return "".join(text) if isinstance(text, list) else text


def lines(text):
    return text.splitlines(keepends=True) if isinstance(text, str) else text


def on_disk(output):
    """An output as nbformat writes it: multi-line strings as lists of lines."""
    copy = dict(output)
    if "text" in copy:
        copy["text"] = lines(copy["text"])
    if isinstance(copy.get("data"), dict):
        copy["data"] = {k: lines(v) if isinstance(v, str) and k.startswith(SPLIT_MIME) else v for k, v in copy["data"].items()}
    return copy


def save(path, nb):
    """Rewrites the notebook in place, as nbformat does (one-space indent, sorted keys, a final newline)."""
    for cell in nb["cells"]:
        if "source" in cell:
            cell["source"] = lines(joined(cell["source"]))
    data = (json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8", "surrogateescape")
    existing = os.lstat(path).st_size if os.path.lexists(path) else 0
    agent.make_room(0, len(data) - existing, keep={path})
    agent.write_bytes(path, data)


# --- the kernel ----------------------------------------------------------------------------------------------------

class Kernel:
    """One Warden Python kernel: a child of the agent in its own process group, talking the driver protocol."""

    def __init__(self, cwd):
        env = dict(agent.COMMAND_ENV)
        env["MPLBACKEND"] = "module://warden_mpl"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.popen = subprocess.Popen(["/usr/bin/python3", "-I", "-B", "-c", KERNEL_BOOT], cwd=cwd, env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGPIPE, signal.SIG_DFL))
        self.messages = queue.Queue()
        self.count = 0
        threading.Thread(target=self._read, daemon=True).start()
        try:
            first = self.messages.get(timeout=KERNEL_START_SECONDS)
        except queue.Empty:
            first = None
        if not first or first.get("type") != "ready":
            self.kill()
            raise agent.Fail("unavailable", "Failed to start kernel 'python3': the Warden Python kernel did not start in this sandbox.")

    def _read(self):
        stream = self.popen.stdout
        while True:
            try:
                line = stream.readline(MAX_KERNEL_LINE)
            except (OSError, ValueError):
                break
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                continue  # the kernel's channel carries only what the user's own code could forge: skip the unreadable
            if isinstance(message, dict):
                self.messages.put(message)
        self.messages.put(None)

    @property
    def alive(self):
        return self.popen.poll() is None

    def signal(self, signum):
        try:
            os.killpg(self.popen.pid, signum)
        except OSError:
            pass

    def kill(self):
        self.signal(signal.SIGKILL)
        try:
            self.popen.stdin.close()
        except OSError:
            pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def run(self, code, timeout):
        """Runs one cell; returns (status, execution_count, outputs). A cell past its timeout is interrupted (SIGINT to the
        kernel's process group, Python's KeyboardInterrupt); one still running a grace period later loses its kernel."""
        self.count += 1
        number = self.count
        try:
            self.popen.stdin.write((json.dumps({"op": "execute", "id": number, "code": code}) + "\n").encode("utf-8", "surrogateescape"))
            self.popen.stdin.flush()
        except (OSError, ValueError):
            return "error", number, [died(self)]
        outputs, size, status = [], 0, None
        deadline, interrupted, why = time.monotonic() + timeout, False, None
        while status is None:
            try:
                message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                if not interrupted:
                    interrupted, why = True, f"The cell ran longer than {timeout:g} s and was interrupted."
                    self.signal(signal.SIGINT)
                    deadline = time.monotonic() + GRACE_SECONDS
                    continue
                self.kill()
                outputs.append(error_output("CellTimeoutError", (why or "The cell was interrupted") +
                                            " It did not stop, so its kernel was killed; the next cell starts a new one."))
                return "error", number, outputs
            if message is None:
                outputs.append(died(self))
                return "error", number, outputs
            if message.get("id") != number:
                continue
            kind = message.get("type")
            if kind == "done":
                status = "ok" if message.get("status") == "ok" else "error"
                break
            output = to_output(message, number)
            if output is None:
                continue
            size += len(json.dumps(output))
            if size > MAX_OUTPUT:
                if not interrupted:
                    interrupted, why = True, f"The cell's output passed {MAX_OUTPUT} bytes; the rest was dropped and the cell interrupted."
                    outputs.append({"output_type": "stream", "name": "stderr", "text": f"\n[warden] {why}\n"})
                    self.signal(signal.SIGINT)
                    deadline = time.monotonic() + GRACE_SECONDS
                continue
            if output["output_type"] == "stream" and outputs and outputs[-1].get("output_type") == "stream" \
                    and outputs[-1]["name"] == output["name"]:
                outputs[-1]["text"] += output["text"]
            else:
                outputs.append(output)
        if interrupted and why:
            for output in outputs:
                if output.get("output_type") == "error" and output.get("ename") == "KeyboardInterrupt":
                    output["evalue"] = why
        return status, number, outputs


def to_output(message, number):
    kind = message.get("type")
    if kind == "stream":
        return {"output_type": "stream", "name": "stderr" if message.get("name") == "stderr" else "stdout", "text": str(message.get("text", ""))}
    if kind in ("display", "result"):
        data = message.get("data") if isinstance(message.get("data"), dict) else {}
        metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
        if kind == "result":
            return {"output_type": "execute_result", "execution_count": number, "data": data, "metadata": metadata}
        return {"output_type": "display_data", "data": data, "metadata": metadata}
    if kind == "error":
        traceback = message.get("traceback")
        return {"output_type": "error", "ename": str(message.get("ename", "Error")), "evalue": str(message.get("evalue", "")),
                "traceback": [str(t) for t in traceback] if isinstance(traceback, list) else []}
    return None


def error_output(ename, evalue):
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


def died(kernel):
    code = kernel.popen.poll()
    kernel.kill()
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited (status {code})"
    return error_output("DeadKernelError", f"The kernel {how}, e.g. out of memory; the next cell starts a new one, without "
                                           "the variables of this one.")


# --- sessions ------------------------------------------------------------------------------------------------------

class Session:
    def __init__(self, session_id, path, kernel_label):
        self.id = session_id
        self.path = path
        self.kernel_label = kernel_label
        self.kernel = None
        self.run_lock = threading.Lock()
        self.last_used = time.time()

    def ensure_kernel(self):
        if self.kernel is None or not self.kernel.alive:
            if self.kernel is not None:
                self.kernel.kill()
            self.kernel = Kernel(os.path.dirname(self.path))
        return self.kernel

    def close(self):
        if self.kernel is not None:
            self.kernel.kill()
            self.kernel = None


def expire():
    """Sessions idle for IDLE_SECONDS (and not running a cell) are stopped, as open-terminal's cleanup loop does."""
    now = time.time()
    with _sessions_lock:
        stale = [s for s in _sessions.values() if now - s.last_used > IDLE_SECONDS and not s.run_lock.locked()]
        for s in stale:
            del _sessions[s.id]
    for s in stale:
        s.close()


def session(req):
    expire()
    with _sessions_lock:
        found = _sessions.get(req.get("notebook"))
    if found is None:
        raise agent.Fail("not_found", "Session not found")
    return found


def notebook_path(req):
    """Relative paths are against the home (open-terminal's UI routes), never the chat's directory."""
    path = req.get("path")
    if not isinstance(path, str) or not path:
        raise agent.Fail("bad_request", "path must be the path of an .ipynb file.")
    return agent.resolve(dict(req, cwd=agent.HOME, make_cwd=False), path)


def op_open(req):
    MAX_FILE_BYTES[0] = int(req.get("max_bytes") or MAX_FILE_BYTES[0])
    path = notebook_path(req)
    nb = load(path)
    label = kernel_name(nb)
    if label not in ("python3", "python", "python2", "ipython", "ipython3"):
        raise agent.Fail("bad_request", f"Failed to start kernel '{label}': notebooks here run Warden's Python kernel only.")
    expire()
    created = Session(req["notebook"], path, label)
    with _sessions_lock:
        if len(_sessions) >= MAX_NOTEBOOKS:
            raise agent.Fail("too_many", f"{len(_sessions)} notebook sessions are open (the limit is {MAX_NOTEBOOKS}); "
                                         "delete one first.")
        _sessions[created.id] = created
    try:
        created.ensure_kernel()
    except BaseException:
        with _sessions_lock:
            _sessions.pop(created.id, None)
        created.close()
        raise
    return {"id": created.id, "kernel": label, "status": "ready"}


def op_execute(req):
    current = session(req)
    if not current.run_lock.acquire(blocking=False):
        raise agent.Fail("conflict", "Cell already executing")
    try:
        current.last_used = time.time()
        MAX_FILE_BYTES[0] = int(req.get("max_bytes") or MAX_FILE_BYTES[0])
        nb = load(current.path)
        cells = nb["cells"]
        index = req.get("cell_index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cells):
            raise agent.Fail("bad_request", f"cell_index {index} out of range (0..{len(cells) - 1})")
        cell = cells[index]
        if req.get("source") is not None:
            cell["source"] = str(req["source"])
        if cell["cell_type"] != "code":
            save(current.path, nb)
            return {"status": "ok", "execution_count": None, "outputs": []}
        kernel = current.ensure_kernel()
        status, count, outputs = kernel.run(joined(cell.get("source", "")), CELL_SECONDS)
        cell["outputs"] = [on_disk(o) for o in outputs]
        cell["execution_count"] = count
        cell.setdefault("metadata", {})
        # The file is re-read so a notebook edited while the cell ran keeps those edits in its other cells.
        try:
            latest = load(current.path)
            if len(latest["cells"]) == len(cells):
                latest["cells"][index] = cell
                nb = latest
        except agent.Fail:
            pass
        save(current.path, nb)
        return {"status": status, "execution_count": count, "outputs": outputs}
    finally:
        current.last_used = time.time()
        current.run_lock.release()


def op_get(req):
    current = session(req)
    return {"id": current.id, "path": current.path, "kernel": current.kernel_label,
            "status": "busy" if current.run_lock.locked() else "ready"}


def op_close(req):
    current = session(req)
    with _sessions_lock:
        _sessions.pop(current.id, None)
    current.close()
    return {"status": "stopped"}


def op_list(req):
    expire()
    with _sessions_lock:
        found = list(_sessions.values())
    return [{"id": s.id, "path": s.path, "pid": s.kernel.popen.pid if s.kernel and s.kernel.alive else None,
             "status": "busy" if s.run_lock.locked() else "ready"} for s in found]


def stop_all():
    """The agent is stopping: every kernel goes with it (the sandbox's cgroup would take them anyway)."""
    with _sessions_lock:
        found = list(_sessions.values())
        _sessions.clear()
    for s in found:
        s.close()
