"""Test support: a real Warden server, plugin loading the way Open WebUI does it, a recording event emitter,
and a loopback stub that records request headers (used only for the identity-header assertions)."""

from __future__ import annotations

import atexit
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request
from pathlib import Path
from typing import Any

PLUGIN_ROOT = Path(__file__).resolve().parent.parent
REPO_ROOT = PLUGIN_ROOT.parent.parent
TOOL_PATH = PLUGIN_ROOT / "tools" / "run_code.py"
ACTION_PATH = PLUGIN_ROOT / "functions" / "run_code.py"
WARDEN_BIN = Path(os.environ.get("WARDEN_BIN", REPO_ROOT / "src/Warden.Cli/bin/Debug/net10.0/warden"))
OVERRIDE_PREFIX = "CODE_EVAL_VALVE_OVERRIDE_"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WardenServer:
    """`warden serve` on a free loopback port, started on first use and stopped at exit."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.url = ""
        self._process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="warden-test-", suffix=".log", delete=False)
        # A state directory of its own: one Warden process per state directory (the second refuses to start), and the
        # two servers here run side by side.
        self._state = tempfile.mkdtemp(prefix="warden-plugin-state-")

    def start(self) -> "WardenServer":
        if self._process is not None:
            return self
        if not WARDEN_BIN.exists():
            raise RuntimeError(f"Warden binary not found at {WARDEN_BIN}: build src/Warden.Cli or set WARDEN_BIN.")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", OVERRIDE_PREFIX))}
        if self.api_key:
            env["WARDEN_API_KEY"] = self.api_key
        env["WARDEN_STATE_DIR"] = self._state
        self._process = subprocess.Popen(
            [str(WARDEN_BIN), "serve", "--urls", self.url], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"warden serve exited with {self._process.returncode}; log: {self._log.name}")
            try:
                with urllib.request.urlopen(self.url + "/api/v1/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"warden serve did not become healthy; log: {self._log.name}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._state, ignore_errors=True)


OPEN_SERVER = WardenServer()
KEYED_SERVER = WardenServer(api_key="test-key-0123456789")


def load_plugin(path: Path, name: str) -> types.ModuleType:
    """Load a plugin file like Open WebUI's plugin loader: a fresh module object, the source exec'd into it."""
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


class Recorder:
    """An async __event_emitter__ that keeps every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        json.dumps(event)  # Open WebUI sends events over socket.io: they must be JSON
        self.events.append(event)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e["data"] for e in self.events if e["type"] == event_type]

    def cards(self) -> list[dict[str, Any]]:
        return [d for d in self.of("citation") if d.get("type") == "code_execution"]


USER = {"id": "user-0001", "email": "zoe@example.com", "name": "Zoë Q", "role": "user"}


class HeaderStub:
    """A loopback HTTP server answering like Warden with canned JSON and recording each request."""

    def __init__(self, execute_result: dict[str, Any]) -> None:
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                self._answer([{"language": "python", "version": "3", "aliases": ["py"], "compiled": False}])

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self._answer(execute_result)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def execute_headers(self) -> dict[str, str]:
        return next(r["headers"] for r in self.requests if r["path"] == "/api/v1/execute")


def success_result(**extra: Any) -> dict[str, Any]:
    return {
        "execution_id": "e1", "language": "python", "status": "success", "stdout": "ok\n", "stderr": "", "exit_code": 0,
        "signal": None, "execution_time_ms": 12, "cpu_time_ms": 5, "memory_used_mb": 3.0, "stdout_truncated": False,
        "stderr_truncated": False, "compile": None, "error": None, **extra,
    }
