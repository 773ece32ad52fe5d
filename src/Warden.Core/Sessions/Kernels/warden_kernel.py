"""Warden's Python kernel driver: persistent globals, one cell at a time. Protocol: README.md next to this file."""
import ast
import base64
import codecs
import json
import linecache
import os
import select
import signal
import sys
import threading
import traceback
import types

_proto_out = -1
_send_lock = threading.Lock()
_executing = False
_cell_id = None


def send(message):
    """Writes one protocol line. SIGINT is held off meanwhile so an interrupt never cuts a line in half."""
    data = (json.dumps(message, ensure_ascii=False, default=str) + "\n").encode("utf-8", "replace")
    main = threading.current_thread() is threading.main_thread()
    if main:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with _send_lock:
            view = memoryview(data)
            while view:
                view = view[os.write(_proto_out, view):]
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class Capture:
    """fd 1 and 2 are pipes read here, so output of the cell and of its child processes becomes stream messages."""

    def __init__(self):
        self.lock = threading.Lock()
        self.streams = {}
        for name, target in (("stdout", 1), ("stderr", 2)):
            read_end, write_end = os.pipe()
            os.dup2(write_end, target)
            os.close(write_end)
            os.set_blocking(read_end, False)
            self.streams[read_end] = (name, codecs.getincrementaldecoder("utf-8")("replace"))
        # The reader never takes SIGINT (it inherits this mask): an interrupt must reach the main thread, whose blocking
        # call (time.sleep, a read) it breaks. Which thread gets a process-directed signal is the kernel's choice, and
        # gVisor's often differs from Linux's preference for the main thread.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            threading.Thread(target=self._loop, name="warden-capture", daemon=True).start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def _loop(self):
        poller = select.poll()
        for fd in self.streams:
            poller.register(fd, select.POLLIN)
        while True:
            events = poller.poll()
            with self.lock:
                for fd, _ in events:
                    self._drain(fd)

    def _drain(self, fd):
        name, decoder = self.streams[fd]
        chunks, size = [], 0
        while size < (1 << 20):
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
            size += len(data)
        text = decoder.decode(b"".join(chunks)) if chunks else ""
        if text and _cell_id is not None:
            send({"type": "stream", "id": _cell_id, "name": name, "text": text})

    def flush(self):
        """Everything written so far is sent: the reader only reads while holding the lock, so none is in flight."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        with self.lock:
            for fd in self.streams:
                self._drain(fd)


def mime_bundle(value):
    data = {"text/plain": repr(value)}
    for method, mime in (("_repr_html_", "text/html"), ("_repr_markdown_", "text/markdown"),
                         ("_repr_svg_", "image/svg+xml"), ("_repr_latex_", "text/latex")):
        if hasattr(value, method) and not isinstance(value, type):
            try:
                rendered = getattr(value, method)()
                if isinstance(rendered, str):
                    data[mime] = rendered
            except Exception:
                pass
    if hasattr(value, "_repr_png_") and not isinstance(value, type):
        try:
            png = value._repr_png_()
            if isinstance(png, bytes):
                data["image/png"] = base64.b64encode(png).decode("ascii")
        except Exception:
            pass
    return data


def flush_figures():
    """Every open matplotlib figure becomes an image/png display_data, then is closed (as IPython's inline backend does)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    import io
    for number in list(pyplot.get_fignums()):
        figure = pyplot.figure(number)
        buffer = io.BytesIO()
        try:
            figure.savefig(buffer, format="png", bbox_inches="tight")
        except Exception as error:  # a broken figure must not take the cell's other outputs with it
            sys.stderr.write(f"warden: could not render figure {number}: {error}\n")
            continue
        send({"type": "display", "id": _cell_id, "data": {
            "image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
            "text/plain": f"<Figure size {int(figure.bbox.width)}x{int(figure.bbox.height)} with {len(figure.axes)} Axes>"},
            "metadata": {}})
    pyplot.close("all")


def report_error(error):
    """Sends the exception with a traceback of the user's frames only (the driver's own frames are left out)."""
    if isinstance(error, SyntaxError):
        lines = traceback.format_exception_only(type(error), error)
    else:
        report = traceback.TracebackException(type(error), error, error.__traceback__)
        report.stack = traceback.StackSummary.from_list([f for f in report.stack if f.filename != __file__])
        lines = list(report.format())
    send({"type": "error", "id": _cell_id, "ename": type(error).__name__, "evalue": str(error),
          "traceback": [line.rstrip("\n") for line in lines]})


def run_cell(code, namespace, number, capture):
    global _executing
    filename = f"<cell-{number}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        tree = ast.parse(code, filename, "exec")
    except SyntaxError as error:
        report_error(error)
        return "error"
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    status = "ok"
    try:
        body = compile(tree, filename, "exec")
        tail = compile(last, filename, "eval") if last is not None else None
        _executing = True
        try:
            exec(body, namespace)
            value = eval(tail, namespace) if tail is not None else None
        finally:
            _executing = False
        capture.flush()
        if value is not None:
            namespace["_"] = value
            send({"type": "result", "id": _cell_id, "data": mime_bundle(value), "metadata": {}})
    except BaseException as error:  # KeyboardInterrupt and SystemExit included: the kernel lives on
        _executing = False
        capture.flush()
        report_error(error)
        status = "error"
    try:
        flush_figures()
    except Exception as error:
        sys.stderr.write(f"warden: {error}\n")
    return status


def on_sigint(signum, frame):
    # Only user code is interruptible; an interrupt that lands between cells is dropped.
    if _executing:
        raise KeyboardInterrupt


def main():
    global _proto_out, _cell_id
    # The protocol keeps the original stdin/stdout; the program gets /dev/null and the capture pipes instead.
    _proto_out = os.dup(1)
    proto_in = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    capture = Capture()
    # Line-buffered text streams: a print() reaches the pipe as one write, and output still streams line by line.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    signal.signal(signal.SIGINT, on_sigint)
    main_module = types.ModuleType("__main__", doc="Automatically created module for the Warden kernel")
    main_module.__builtins__ = __builtins__
    sys.modules["__main__"] = main_module
    namespace = main_module.__dict__
    send({"type": "ready", "implementation": "warden-python", "language_version": sys.version.split()[0]})
    requests = os.fdopen(proto_in, "rb")
    number = 0
    while True:
        try:
            line = requests.readline()
        except KeyboardInterrupt:
            continue
        if not line:
            return
        request = json.loads(line)
        if request.get("op") != "execute":
            return
        number += 1
        _cell_id = request["id"]
        status = run_cell(request["code"], namespace, number, capture)
        capture.flush()
        send({"type": "done", "id": _cell_id, "status": status})
        _cell_id = None


if __name__ == "__main__":
    main()
