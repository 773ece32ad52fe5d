"""The Tool against a real Warden server: results, events, the card, failures, descriptions, headers."""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import json
import os
import unittest
import urllib.error
from typing import Any
from unittest import mock

from pydantic import create_model

from support import KEYED_SERVER, OPEN_SERVER, TOOL_PATH, USER, HeaderStub, Recorder, free_port, load_plugin, success_result

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


class ToolTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.env = mock.patch.dict(os.environ, {k: v for k, v in os.environ.items() if not k.startswith("CODE_EVAL_")}, clear=True)
        self.env.start()
        self.addCleanup(self.env.stop)
        self.plugin = load_plugin(TOOL_PATH, "warden_tool_under_test")
        self.tools = self.plugin.Tools()
        self.tools.valves = self.tools.Valves(WARDEN_URL=OPEN_SERVER.start().url)
        self.recorder = Recorder()

    def call(self, method: str, *args: Any, metadata: dict | None = None) -> dict[str, Any]:
        coroutine = getattr(self.tools, method)(
            *args, __user__=USER, __metadata__=metadata or {"chat_id": "chat-1"}, __event_emitter__=self.recorder
        )
        return json.loads(asyncio.run(coroutine))

    def set_valves(self, **values: Any) -> None:
        self.tools.valves = self.tools.Valves(**{**self.tools.valves.model_dump(), **values})


class RunTests(ToolTestCase):
    def test_python_success_reports_output_status_events_and_card(self) -> None:
        result = self.call("run_python_code", "print(6 * 7)")

        self.assertEqual(result["status"], "success")
        self.assertEqual(result["stdout"], "42\n")
        self.assertEqual(result["exit_code"], 0)
        self.assertIn("Python ran successfully", result["message"])
        statuses = self.recorder.of("status")
        self.assertFalse(statuses[0]["done"])
        self.assertTrue(statuses[-1]["done"])
        self.assertEqual(statuses[-1]["description"], result["message"])
        first, last = self.recorder.cards()
        self.assertEqual(first["id"], last["id"])
        self.assertNotIn("result", first)  # the card spins until the result arrives
        self.assertEqual(first["code"], "print(6 * 7)")
        self.assertEqual(first["language"], "python")
        self.assertEqual(last["result"], {"output": "42\n"})
        self.assertEqual(self.recorder.of("notification"), [])

    def test_bash_command_runs_in_bash(self) -> None:
        result = self.call("run_bash_command", 'echo "$BASH_VERSION" | cut -d. -f1; exit 3')
        self.assertEqual(result["status"], "error")
        self.assertEqual(result["exit_code"], 3)
        self.assertRegex(result["stdout"], r"^\d+\n$")
        self.assertIn("exited with code 3", self.recorder.cards()[-1]["result"]["error"])

    def test_run_code_runs_other_languages_and_reports_compile_errors(self) -> None:
        self.assertEqual(self.call("run_code", "JavaScript", "console.log([1,2].map(x => x * 2))")["stdout"], "[ 2, 4 ]\n")
        broken = self.call("run_code", "c", "int main(void) { return x; }")
        self.assertEqual(broken["status"], "compile_error")
        self.assertIn("undeclared", broken["stderr"])

    def test_model_wrapping_code_in_a_fence_still_runs(self) -> None:
        self.assertEqual(self.call("run_python_code", "```python\nprint('fenced')\n```")["stdout"], "fenced\n")

    def test_unknown_language_lists_what_the_server_has(self) -> None:
        result = self.call("run_code", "cobol", "DISPLAY 'HI'.")
        self.assertEqual(result["status"], "unknown_language")
        self.assertIn("python", result["message"])
        self.assertEqual(self.recorder.of("notification")[0]["type"], "error")
        self.assertEqual(self.recorder.cards()[-1]["result"]["error"], result["message"])

    def test_timeout_and_memory_limit_statuses(self) -> None:
        self.set_valves(MAX_RUNTIME_SECONDS=1)
        slow = self.call("run_python_code", "import time\ntime.sleep(5)")
        self.assertEqual(slow["status"], "timeout")
        self.assertIn("did not finish within 1 s", slow["message"])
        self.set_valves(MAX_RUNTIME_SECONDS=0, MAX_RAM_MEGABYTES=64)
        hog = self.call("run_python_code", "x = bytearray(200 * 1024 * 1024)")
        self.assertEqual(hog["status"], "memory_limit")
        self.assertIn("memory", self.recorder.of("status")[-1]["description"])

    def test_limit_above_ceiling_names_the_valve(self) -> None:
        self.set_valves(MAX_RUNTIME_SECONDS=100000)
        result = self.call("run_python_code", "print(1)")
        self.assertEqual(result["status"], "invalid_request")
        self.assertIn("ceiling", result["message"])
        self.assertIn("MAX_RUNTIME_SECONDS", result["message"])

    def test_network_refused_by_server_names_the_valve(self) -> None:
        self.set_valves(NETWORKING_ALLOWED=True)
        result = self.call("run_python_code", "print(1)")
        self.assertEqual(result["status"], "invalid_request")
        self.assertIn("NETWORKING_ALLOWED", result["message"])


class FailureTests(ToolTestCase):
    def test_server_down_is_a_clear_message(self) -> None:
        self.set_valves(WARDEN_URL=f"http://127.0.0.1:{free_port()}")
        result = self.call("run_python_code", "print(1)")
        self.assertEqual(result["status"], "unreachable")
        self.assertIn("Cannot reach the Warden server", result["message"])
        self.assertNotIn("Traceback", json.dumps(self.recorder.events))
        self.assertEqual(self.recorder.of("notification")[0]["content"], result["message"])
        self.assertTrue(self.recorder.of("status")[-1]["done"])

    def test_api_key_missing_wrong_and_right(self) -> None:
        self.set_valves(WARDEN_URL=KEYED_SERVER.start().url)
        for key in ("", "wrong"):
            self.set_valves(WARDEN_API_KEY=key)
            result = self.call("run_python_code", "print(1)")
            self.assertEqual(result["status"], "unauthorized")
            self.assertIn("WARDEN_API_KEY", result["message"])
        self.set_valves(WARDEN_API_KEY=KEYED_SERVER.api_key)
        self.assertEqual(self.call("run_python_code", "print(1)")["status"], "success")

    def test_bad_env_override_is_reported_not_raised(self) -> None:
        os.environ["CODE_EVAL_VALVE_OVERRIDE_MAX_RUNTIME_SECONDS"] = "soon"
        result = self.call("run_python_code", "print(1)")
        self.assertEqual(result["status"], "misconfigured")
        self.assertIn("CODE_EVAL_VALVE_OVERRIDE_MAX_RUNTIME_SECONDS", result["message"])

    def test_busy_server_says_when_to_retry(self) -> None:
        headers = {"Retry-After": "7", "Content-Type": "application/problem+json"}
        body = io.BytesIO(b'{"title":"Capacity exceeded","status":503,"detail":"queue full"}')
        error = self.plugin._http_error("http://w", urllib.error.HTTPError("http://w", 503, "x", headers, body))
        self.assertEqual(error.kind, "busy")
        self.assertIn("Try again in 7 s", error.message)


class DescriptionTests(ToolTestCase):
    def test_only_the_three_tools_are_exposed_and_their_specs_build(self) -> None:
        # Open WebUI: every callable attribute not starting with "__" and not a class is a tool.
        exposed = sorted(
            name for name in dir(self.tools)
            if not name.startswith("__") and callable(getattr(self.tools, name)) and not inspect.isclass(getattr(self.tools, name))
        )
        self.assertEqual(exposed, ["run_bash_command", "run_code", "run_python_code"])
        for name in exposed:
            method = getattr(self.tools, name)
            fields = {
                p.name: (p.annotation, ...) for p in inspect.signature(method).parameters.values() if not p.name.startswith("__")
            }
            schema = create_model(name, **fields).model_json_schema()
            self.assertTrue(all(v["type"] == "string" for v in schema["properties"].values()))
            self.assertIn(":param", method.__doc__)

    def test_run_code_description_lists_server_languages_after_first_call(self) -> None:
        self.call("run_python_code", "print(1)")
        description = self.tools.run_code.__doc__.split(":param")[0]
        self.assertIn("javascript", description)
        self.assertIn("aliases: js, node", description)
        self.assertIn("no network access", description)

    def test_additional_context_reaches_descriptions_and_results(self) -> None:
        self.set_valves(ADDITIONAL_CONTEXT="numpy is not installed; use the standard library.", MAX_RUNTIME_SECONDS=20)
        for name in ("run_python_code", "run_bash_command", "run_code"):
            description = getattr(self.tools, name).__doc__.split(":param")[0]
            self.assertIn("numpy is not installed", description)
            self.assertIn("stopped after 20 seconds", description)
        self.assertEqual(self.call("run_python_code", "print(1)")["notes"], "numpy is not installed; use the standard library.")


class StubbedServerTests(ToolTestCase):
    """Warden cannot yet be asked what headers it received or made to return files: a loopback stub stands in."""

    def stub(self, result: dict[str, Any]) -> HeaderStub:
        stub = HeaderStub(result)
        self.addCleanup(stub.close)
        self.set_valves(WARDEN_URL=stub.url, WARDEN_API_KEY="k", MAX_RUNTIME_SECONDS=9, MAX_RAM_MEGABYTES=99)
        return stub

    def test_identity_limits_and_quota_headers_reach_warden(self) -> None:
        stub = self.stub(success_result())
        self.call("run_python_code", "print(1)", metadata={"chat_id": "chat-42", "message_id": "m"})

        headers = stub.execute_headers()
        self.assertEqual(headers["X-User-Id"], "user-0001")
        self.assertEqual(headers["X-User-Name"], "Zo%C3%AB Q")
        self.assertEqual(headers["X-Chat-Id"], "chat-42")
        self.assertEqual(headers["Authorization"], "Bearer k")
        self.assertEqual(headers["X-Warden-Max-Files-Per-Execution"], "32")
        self.assertEqual(headers["X-Warden-Max-Files-Per-User"], "4096")
        self.assertEqual(headers["X-Warden-Max-Megabytes-Per-User"], "256")
        body = next(r["body"] for r in stub.requests if r["path"] == "/api/v1/execute")
        self.assertEqual(body, {"language": "python", "code": "print(1)", "network": False, "timeout": 9, "memory_mb": 99, "collect_files": True})

    def test_generated_files_become_images_links_and_text(self) -> None:
        files = [
            {"name": "plot.png", "size": len(PNG), "mime_type": "image/png", "content_base64": base64.b64encode(PNG).decode()},
            {"name": "data.csv", "size": 8, "mime_type": "text/csv", "content_base64": base64.b64encode(b"a,b\n1,2\n").decode()},
            {"name": "blob.bin", "size": 3, "mime_type": "application/octet-stream", "content_base64": "AAEC"},
        ]
        self.stub(success_result(files=files))
        self.set_valves(MAX_FILES_PER_EXECUTION=2)
        result = self.call("run_python_code", "make files")

        self.assertEqual([f["name"] for f in result["files"]], ["plot.png", "data.csv"])
        self.assertEqual(result["files"][1]["content"], "a,b\n1,2\n")
        self.assertEqual(result["files_not_shown"], 1)
        self.assertIn("only the first 2 are shown", result["message"])
        image_event = self.recorder.of("files")[0]["files"]
        self.assertEqual(image_event, [{"type": "image", "name": "plot.png", "url": "data:image/png;base64," + files[0]["content_base64"]}])
        card_files = self.recorder.cards()[-1]["result"]["files"]
        self.assertEqual([f["name"] for f in card_files], ["plot.png", "data.csv"])
        self.assertTrue(card_files[1]["url"].startswith("data:text/csv;base64,"))

    def test_zero_files_per_execution_does_not_ask_for_files(self) -> None:
        stub = self.stub(success_result())
        self.set_valves(MAX_FILES_PER_EXECUTION=0)
        self.call("run_python_code", "print(1)")
        self.assertNotIn("collect_files", stub.requests[-1]["body"])
        self.assertNotIn("X-Warden-Max-Files-Per-Execution", stub.execute_headers())


if __name__ == "__main__":
    unittest.main()
