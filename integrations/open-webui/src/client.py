import argparse
import asyncio
import base64
import json
import logging
import mimetypes
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from pydantic import BaseModel, Field, ValidationError

# ---- Warden client: begin (generated into both plugins from src/client.py by generate.py) ----
OVERRIDE_PREFIX = "CODE_EVAL_VALVE_OVERRIDE_"
"""Environment variables named OVERRIDE_PREFIX + <VALVE> win over the valves saved in Open WebUI."""

_MODEL_TEXT_LIMIT = 20_000
"""Characters of stdout/stderr kept for the model (head and tail); the rest is elided."""
_CARD_TEXT_LIMIT = 200_000
"""Characters of stdout/stderr kept in the code-execution card."""
_INLINE_TEXT_BYTES = 8192
"""Generated text files up to this size are shown inline (and given to the model)."""
_INLINE_TEXT_LINES = 100
_EMBED_BYTES = 4 * 1024 * 1024
"""Generated files larger than this are listed but not embedded as data: URIs."""
_RUNTIMES_TTL_SECONDS = 300.0
_LOG = logging.getLogger("warden.open_webui")


class WardenValves(BaseModel):
    """Settings shared by the Warden Tool and Action. Each can be pinned by an environment variable."""

    WARDEN_URL: str = Field(
        default="http://127.0.0.1:8090",
        description="Base URL of the Warden server as seen from the Open WebUI backend, e.g. http://warden:8090. "
        "Env: CODE_EVAL_VALVE_OVERRIDE_WARDEN_URL.",
    )
    WARDEN_API_KEY: str = Field(
        default="",
        description="The server's API key (WARDEN_API_KEY), sent as 'Authorization: Bearer'. Empty if the server needs none. "
        "Env: CODE_EVAL_VALVE_OVERRIDE_WARDEN_API_KEY.",
        json_schema_extra={"input": {"type": "password"}},
    )
    NETWORKING_ALLOWED: bool = Field(
        default=False,
        description="Ask for network access for the code. The Warden server must allow it too (Warden:Limits:AllowNetwork), "
        "otherwise runs are refused. Env: CODE_EVAL_VALVE_OVERRIDE_NETWORKING_ALLOWED.",
    )
    MAX_RUNTIME_SECONDS: int = Field(
        default=0,
        ge=0,
        description="Wall-clock limit per run in seconds; 0 = the server's default. Cannot exceed the server's ceiling. "
        "Env: CODE_EVAL_VALVE_OVERRIDE_MAX_RUNTIME_SECONDS.",
    )
    MAX_RAM_MEGABYTES: int = Field(
        default=0,
        ge=0,
        description="Memory limit per run in MB; 0 = the server's default. Cannot exceed the server's ceiling. "
        "Env: CODE_EVAL_VALVE_OVERRIDE_MAX_RAM_MEGABYTES.",
    )
    MAX_FILES_PER_EXECUTION: int = Field(
        default=32,
        ge=0,
        description="At most this many files created by a run are returned and shown; 0 = do not collect files. "
        "Env: CODE_EVAL_VALVE_OVERRIDE_MAX_FILES_PER_EXECUTION.",
    )
    MAX_FILES_PER_USER: int = Field(
        default=4096,
        ge=0,
        description="Per-user stored-file quota requested from Warden (header X-Warden-Max-Files-Per-User). The server "
        "enforces quotas and never raises its own; 0 = leave it to the server. Env: CODE_EVAL_VALVE_OVERRIDE_MAX_FILES_PER_USER.",
    )
    MAX_MEGABYTES_PER_USER: int = Field(
        default=256,
        ge=0,
        description="Per-user stored-data quota in MB requested from Warden (header X-Warden-Max-Megabytes-Per-User). The "
        "server enforces quotas and never raises its own; 0 = leave it to the server. "
        "Env: CODE_EVAL_VALVE_OVERRIDE_MAX_MEGABYTES_PER_USER.",
    )
    DEBUG: bool = Field(
        default=False,
        description="Show request details and Warden's execution id in status messages and log them. Not for production. "
        "Env: CODE_EVAL_VALVE_OVERRIDE_DEBUG.",
    )
    ADDITIONAL_CONTEXT: str = Field(
        default="",
        description="Extra guidance for the model about the sandbox (e.g. which packages are installed). "
        "Env: CODE_EVAL_VALVE_OVERRIDE_ADDITIONAL_CONTEXT.",
    )


class WardenError(Exception):
    """Why code could not be run. `kind` is a stable machine-readable word; the message is for people."""

    def __init__(self, kind: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.http_status = http_status


def effective_valves(valves: WardenValves) -> WardenValves:
    """Apply CODE_EVAL_VALVE_OVERRIDE_<NAME> variables: bools are "true"/"false" (any case), ints parse with int(),
    strings are taken as they are. A bad value raises WardenError(kind="misconfigured")."""
    overrides: dict[str, Any] = {}
    for name, field in type(valves).model_fields.items():
        raw = os.environ.get(OVERRIDE_PREFIX + name)
        if raw is None:
            continue
        if field.annotation is bool:
            word = raw.strip().lower()
            if word not in ("true", "false"):
                raise WardenError("misconfigured", f'{OVERRIDE_PREFIX}{name}={raw!r}: must be "true" or "false".')
            overrides[name] = word == "true"
        elif field.annotation is int:
            try:
                overrides[name] = int(raw)
            except ValueError:
                raise WardenError("misconfigured", f"{OVERRIDE_PREFIX}{name}={raw!r}: must be an integer.") from None
        else:
            overrides[name] = raw
    if not overrides:
        return valves
    try:
        return type(valves).model_validate({**valves.model_dump(), **overrides})
    except ValidationError as e:
        problem = e.errors()[0]
        name = problem["loc"][0] if problem["loc"] else "?"
        raise WardenError("misconfigured", f"{OVERRIDE_PREFIX}{name}: {problem['msg']}.") from None


def _header_value(value: Any) -> str:
    """Percent-encode like Open WebUI's forwarded user headers (non-ASCII names arrive %-encoded)."""
    return urllib.parse.quote(str(value), safe=" @:")


class WardenClient:
    """Minimal client for Warden's native API. Blocking HTTP runs in a worker thread."""

    def __init__(self, valves: WardenValves, user: dict | None = None, chat_id: str | None = None) -> None:
        self.valves = valves
        self.base_url = valves.WARDEN_URL.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "warden-open-webui/1.0"}
        if valves.WARDEN_API_KEY:
            headers["Authorization"] = f"Bearer {valves.WARDEN_API_KEY}"
        if user and user.get("id"):
            headers["X-User-Id"] = _header_value(user["id"])
        if user and user.get("name"):
            headers["X-User-Name"] = _header_value(user["name"])
        if chat_id:
            headers["X-Chat-Id"] = _header_value(chat_id)
        quotas = {
            "X-Warden-Max-Files-Per-Execution": valves.MAX_FILES_PER_EXECUTION,
            "X-Warden-Max-Files-Per-User": valves.MAX_FILES_PER_USER,
            "X-Warden-Max-Megabytes-Per-User": valves.MAX_MEGABYTES_PER_USER,
        }
        headers.update({k: str(v) for k, v in quotas.items() if v > 0})
        self.headers = headers

    async def execute(self, language: str, code: str) -> dict[str, Any]:
        """POST /api/v1/execute with the valves' limits; returns Warden's result object."""
        body: dict[str, Any] = {"language": language, "code": code, "network": self.valves.NETWORKING_ALLOWED}
        if self.valves.MAX_RUNTIME_SECONDS > 0:
            body["timeout"] = self.valves.MAX_RUNTIME_SECONDS
        if self.valves.MAX_RAM_MEGABYTES > 0:
            body["memory_mb"] = self.valves.MAX_RAM_MEGABYTES
        if self.valves.MAX_FILES_PER_EXECUTION > 0:
            body["collect_files"] = True
        # Queueing and compiling happen before the run clock starts; leave room for both.
        wait = (self.valves.MAX_RUNTIME_SECONDS or 60) + 90
        result = await asyncio.to_thread(self._call, "POST", "/api/v1/execute", body, wait)
        if not isinstance(result, dict) or "status" not in result:
            raise WardenError("bad_response", f"Warden at {self.base_url} returned an unexpected answer to /api/v1/execute.")
        return result

    async def runtimes(self) -> list[dict[str, Any]]:
        """GET /api/v1/runtimes, cached per server for a few minutes."""
        key = (self.base_url, self.valves.WARDEN_API_KEY)
        cached = _RUNTIMES_CACHE.get(key)
        if cached and time.monotonic() - cached[0] < _RUNTIMES_TTL_SECONDS:
            return cached[1]
        result = await asyncio.to_thread(self._call, "GET", "/api/v1/runtimes", None, 15)
        if not isinstance(result, list):
            raise WardenError("bad_response", f"Warden at {self.base_url} returned an unexpected answer to /api/v1/runtimes.")
        _RUNTIMES_CACHE[key] = (time.monotonic(), result)
        return result

    def _call(self, method: str, path: str, body: dict | None, timeout: float) -> Any:
        url = self.base_url + path
        if not url.startswith(("http://", "https://")):
            raise WardenError("misconfigured", f"WARDEN_URL must start with http:// or https:// (got {self.valves.WARDEN_URL!r}).")
        data = None
        headers = dict(self.headers)
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as e:
            raise _http_error(self.base_url, e) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, TimeoutError):
                raise WardenError("unreachable", f"Warden at {self.base_url} did not answer within {timeout:.0f} s.") from None
            raise WardenError(
                "unreachable",
                f"Cannot reach the Warden server at {self.base_url} ({reason}). Check WARDEN_URL and that Warden is running.",
            ) from None
        try:
            return json.loads(payload)
        except ValueError:
            raise WardenError("bad_response", f"Warden at {self.base_url} answered {path} with something that is not JSON.") from None


_RUNTIMES_CACHE: dict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = {}

_LIMIT_VALVES = {"timeout": "MAX_RUNTIME_SECONDS", "memory_mb": "MAX_RAM_MEGABYTES", "network": "NETWORKING_ALLOWED"}


def _http_error(base_url: str, error: urllib.error.HTTPError) -> WardenError:
    """Turn an RFC 7807 problem (or any HTTP error) from Warden into a clear sentence."""
    status = error.code
    problem: dict[str, Any] = {}
    try:
        parsed = json.loads(error.read() or b"{}")
        if isinstance(parsed, dict):
            problem = parsed
    except (ValueError, OSError):
        pass
    detail = str(problem.get("detail") or problem.get("title") or error.reason or "").strip()
    if status == 401:
        return WardenError(
            "unauthorized",
            "Warden rejected the API key (HTTP 401): set the WARDEN_API_KEY valve to the server's WARDEN_API_KEY.",
            status,
        )
    if status == 403:
        return WardenError("forbidden", f"Warden refused this request (HTTP 403): {detail}", status)
    if status == 503:
        retry = error.headers.get("Retry-After") if error.headers else None
        when = f" Try again in {retry} s." if retry else " Try again shortly."
        return WardenError("busy", f"Warden is busy: every sandbox is in use and the queue is full.{when}", status)
    if status == 413:
        return WardenError("too_large", f"The code is too large for Warden: {detail}", status)
    if status == 404:
        return WardenError("misconfigured", f"{base_url} has no Warden API here (HTTP 404). Check WARDEN_URL.", status)
    if 400 <= status < 500:
        valve = _LIMIT_VALVES.get(str(problem.get("limit") or problem.get("parameter") or ""))
        hint = f" (adjust the {valve} valve)" if valve else ""
        kind = "unknown_language" if problem.get("language") else "invalid_request"
        return WardenError(kind, f"Warden refused the request: {detail}{hint}", status)
    return WardenError("server_error", f"Warden failed (HTTP {status}): {detail}", status)


def elide(text: str, limit: int) -> str:
    """Keep the head and tail of text within limit characters."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters omitted …]\n{text[-half:]}"


@dataclass
class GeneratedFile:
    """A file the program left in its working directory, as Warden returned it."""

    name: str
    size: int
    mime_type: str
    data: bytes | None

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/") and self.data is not None

    def data_uri(self) -> str | None:
        if self.data is None:
            return None
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    def inline_text(self) -> str | None:
        """The content, if it is small UTF-8 text worth showing inline."""
        if self.data is None or len(self.data) > _INLINE_TEXT_BYTES or self.is_image:
            return None
        try:
            text = self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if "\x00" in text or text.count("\n") > _INLINE_TEXT_LINES:
            return None
        return text


def _files_from(result: dict[str, Any]) -> list[GeneratedFile]:
    files = []
    for entry in result.get("files") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        data = None
        encoded = entry.get("content_base64")
        size = int(entry.get("size") or 0)
        if encoded and size <= _EMBED_BYTES:
            try:
                data = base64.b64decode(encoded, validate=True)
            except (ValueError, TypeError):
                data = None
        mime = entry.get("mime_type") or mimetypes.guess_type(entry["name"])[0] or "application/octet-stream"
        files.append(GeneratedFile(str(entry["name"]), size or len(data or b""), mime, data))
    return files


_STATUS_FALLBACK = {
    "error": "The program failed.",
    "compile_error": "Compilation failed.",
    "timeout": "The program ran out of time and was killed.",
    "memory_limit": "The program ran out of memory and was killed.",
    "output_limit": "The program printed too much output and was killed.",
    "killed": "The program was killed.",
    "sandbox_error": "The sandbox failed to run the program.",
}


@dataclass
class Outcome:
    """The result of one run, whatever happened, in the words the chat and the model need."""

    language: str
    status: str
    summary: str
    ran: bool
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    execution_time_ms: int | None = None
    execution_id: str | None = None
    truncated: bool = False
    files: list[GeneratedFile] = field(default_factory=list)
    files_dropped: int = 0

    @classmethod
    def from_result(cls, language: str, result: dict[str, Any], max_files: int) -> "Outcome":
        status = str(result.get("status"))
        stdout, stderr = result.get("stdout") or "", result.get("stderr") or ""
        compile_stage = result.get("compile") or {}
        if status == "compile_error" and isinstance(compile_stage, dict):
            stdout = stdout or compile_stage.get("stdout") or ""
            stderr = stderr or compile_stage.get("stderr") or ""
        files = _files_from(result)
        dropped = max(0, len(files) - max_files)
        seconds = (result.get("execution_time_ms") or 0) / 1000
        if status == "success":
            summary = f"{_title(language)} ran successfully in {seconds:.2f} s."
        else:
            summary = f"{_title(language)}: {result.get('error') or _STATUS_FALLBACK.get(status, f'Run ended with status {status}.')}"
        if dropped:
            summary += f" It created {len(files)} files; only the first {max_files} are shown (MAX_FILES_PER_EXECUTION)."
        return cls(
            language=str(result.get("language") or language),
            status=status,
            summary=summary,
            ran=True,
            stdout=stdout,
            stderr=stderr,
            exit_code=result.get("exit_code"),
            execution_time_ms=result.get("execution_time_ms"),
            execution_id=result.get("execution_id"),
            truncated=bool(result.get("stdout_truncated") or result.get("stderr_truncated")),
            files=files[:max_files],
            files_dropped=dropped,
        )

    @classmethod
    def failed(cls, language: str, error: WardenError) -> "Outcome":
        return cls(language=language, status=error.kind, summary=error.message, ran=False)

    def card_result(self) -> dict[str, Any]:
        """The `result` of Open WebUI's code-execution card: output, error, files."""
        result: dict[str, Any] = {}
        if self.status == "success":
            output = "\n".join(part for part in (self.stdout, self.stderr) if part)
            result["output"] = elide(output, _CARD_TEXT_LIMIT) if output else "(no output)"
        else:
            result["error"] = elide("\n".join(part for part in (self.summary, self.stderr) if part), _CARD_TEXT_LIMIT)
            if self.stdout:
                result["output"] = elide(self.stdout, _CARD_TEXT_LIMIT)
        links = [{"name": f.name, "url": f.data_uri()} for f in self.files if f.data is not None]
        if links:
            result["files"] = links
        return result


_TITLES = {"javascript": "JavaScript", "c++": "C++", "c": "C", "sh": "Shell", "bash": "Bash", "python": "Python"}


def _title(language: str) -> str:
    return _TITLES.get(language.lower(), language[:1].upper() + language[1:])


class Events:
    """Sends Open WebUI events; a broken or missing emitter never fails the run."""

    def __init__(self, emitter: Callable[[dict], Awaitable[Any]] | None, debug: bool) -> None:
        self._emitter = emitter
        self._debug = debug

    async def send(self, event_type: str, data: dict[str, Any]) -> None:
        if self._debug:
            _LOG.info("event %s: %s", event_type, json.dumps(data)[:2000])
        if self._emitter is None:
            return
        try:
            await self._emitter({"type": event_type, "data": data})
        except Exception:  # the browser may be gone; the run's result still matters
            _LOG.warning("could not emit %s event", event_type, exc_info=self._debug)

    async def status(self, description: str, done: bool = False) -> None:
        await self.send("status", {"description": description, "done": done})

    async def card(self, card: dict[str, Any]) -> None:
        """The collapsible code-execution card; Open WebUI upserts it by card['id']."""
        await self.send("citation", card)

    async def images(self, files: list[dict[str, Any]]) -> None:
        await self.send("files", {"files": files})

    async def notify(self, level: str, content: str) -> None:
        await self.send("notification", {"type": level, "content": content})


async def run_on_warden(
    valves: WardenValves,
    language: str,
    code: str,
    events: Events,
    user: dict | None,
    chat_id: str | None,
) -> Outcome:
    """Run code once on Warden, narrating it with status events and the code-execution card."""
    card: dict[str, Any] = {
        "type": "code_execution",
        "id": str(uuid.uuid4()),
        "name": f"{_title(language)} on Warden",
        "code": code,
        "language": language,
    }
    await events.status(f"Running {_title(language)} code on Warden…")
    await events.card(card)
    try:
        result = await WardenClient(valves, user, chat_id).execute(language, code)
        outcome = Outcome.from_result(language, result, valves.MAX_FILES_PER_EXECUTION)
    except WardenError as e:
        outcome = Outcome.failed(language, e)
    await events.card({**card, "result": outcome.card_result()})
    images = [{"type": "image", "name": f.name, "url": f.data_uri()} for f in outcome.files if f.is_image]
    if images:
        await events.images(images)
    status = outcome.summary
    if valves.DEBUG:
        status += f" [debug: url={valves.WARDEN_URL} status={outcome.status} execution_id={outcome.execution_id}]"
    await events.status(status, done=True)
    if not outcome.ran:
        await events.notify("error", outcome.summary)
    return outcome


SELF_TESTS: tuple[dict[str, Any], ...] = (
    {"name": "simple_python", "language": "python", "status": "success",
     "code": "import os, platform\nprint('Hello from the sandbox!', platform.python_version(), os.getcwd())\n"},
    {"name": "simple_bash", "language": "bash", "status": "success",
     "code": "echo 'Hello from the sandbox!'\npwd\ndate\n"},
    {"name": "bad_syntax_python", "language": "python", "status": "error", "code": "print('foo\n"},
    {"name": "bad_syntax_bash", "language": "bash", "status": "error", "code": "echo 'foo\n"},
    {"name": "long_running_code", "language": "python", "status": "timeout", "valves": {"MAX_RUNTIME_SECONDS": 5},
     "code": "import time\ntime.sleep(15)\nprint('Managed to sleep for 15 seconds.')\n"},
    {"name": "ram_hog", "language": "python", "status": "memory_limit", "valves": {"MAX_RAM_MEGABYTES": 128},
     "code": "f = open('/dev/urandom', 'rb')\ns = [f.read(1024 * 1024) for _ in range(256)]\nprint('Managed to hog', len(s), 'megabytes.')\n"},
)
"""safe-code-execution's self-test list, with Warden's status names (its ERROR/TIMEOUT/INTERRUPTED are error/timeout/memory_limit)."""


def self_test(what: str, run_one: Callable[[str, str], Awaitable[dict[str, Any]]], debug: bool, name_filter: str | None) -> int:
    """Run SELF_TESTS against the server in CODE_EVAL_VALVE_OVERRIDE_WARDEN_URL and print safe-code-execution's lines.
    run_one returns the plugin's result (status, message, stdout, stderr). Returns the exit code: 0 = all passed."""
    if debug:
        os.environ[OVERRIDE_PREFIX + "DEBUG"] = "true"
    passed = True
    for test in SELF_TESTS:
        if name_filter and test["name"] != name_filter:
            continue
        print(f"\u23f3 Running self-test: {test['name']}", file=sys.stderr)
        saved = {name: os.environ.get(OVERRIDE_PREFIX + name) for name in test.get("valves", {})}
        os.environ.update({OVERRIDE_PREFIX + name: str(value) for name, value in test.get("valves", {}).items()})
        try:
            result = asyncio.run(run_one(test["language"], test["code"]))
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(OVERRIDE_PREFIX + name, None)
                else:
                    os.environ[OVERRIDE_PREFIX + name] = value
        if debug or result["status"] != test["status"]:
            for label, text in (("\U0001f5e8 Output", result.get("stdout")), ("\U0001f41e Stderr", result.get("stderr"))):
                if text:
                    print(f"  {label}:", file=sys.stderr)
                    print("\n".join(f"    {line}" for line in text.rstrip().split("\n")), file=sys.stderr)
        if result["status"] == test["status"]:
            print(f"\u2714 Self-test {test['name']} passed.", file=sys.stderr)
        else:
            passed = False
            print(
                f"\u274c Self-test {test['name']} failed: status was {result['status']}, expected {test['status']}: {result.get('message')}",
                file=sys.stderr,
            )
    if passed:
        print(f"\u2705 All {what} self-tests passed, good go to!", file=sys.stderr)
        return 0
    print(f"\u2620 One or more {what} self-tests failed.", file=sys.stderr)
    return 1


def self_test_arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--self_test", action="store_true", help="Run the self-tests against the Warden server.")
    parser.add_argument("--self_test_filter", metavar="NAME", help="Run only the self-test called NAME.")
    parser.add_argument("--debug", action="store_true", help="Print every test's output and enable the DEBUG valve.")
    args = parser.parse_args()
    if not args.self_test:
        parser.error("nothing to do: pass --self_test (set CODE_EVAL_VALVE_OVERRIDE_WARDEN_URL to choose the server)")
    return args


# ---- Warden client: end ----
