"""The Action: code-block extraction heuristics, and the button end to end against a real Warden server."""

from __future__ import annotations

import asyncio
import os
import unittest
from typing import Any
from unittest import mock

from support import ACTION_PATH, OPEN_SERVER, USER, HeaderStub, Recorder, free_port, load_plugin, success_result

RUNTIMES = [
    {"language": "python", "version": "3.11.2", "aliases": ["py", "python3"], "compiled": False},
    {"language": "javascript", "version": "20", "aliases": ["js", "node", "nodejs"], "compiled": False},
    {"language": "bash", "version": "5.2", "aliases": ["shell"], "compiled": False},
    {"language": "sh", "version": "0.5", "aliases": ["dash", "posix-sh"], "compiled": False},
]


class ExtractionTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.plugin = load_plugin(ACTION_PATH, "warden_action_extraction")
        cls.index = cls.plugin.language_index(RUNTIMES)

    def choose(self, markdown: str) -> tuple[str, str] | None:
        return self.plugin.choose_code(markdown, self.index)

    def test_last_tagged_block_wins(self) -> None:
        text = "First:\n```python\nprint(1)\n```\nThen:\n```bash\necho 2\n```\nDone."
        self.assertEqual(self.choose(text), ("bash", "echo 2"))

    def test_tagged_block_wins_over_a_later_untagged_one(self) -> None:
        self.assertEqual(self.choose("```py\nprint(1)\n```\nIt prints:\n```\n1\n```"), ("python", "print(1)"))
        self.assertEqual(self.choose("```python\nprint(1)\n```\n```\nprint(2)\n```"), ("python", "print(1)"))

    def test_blocks_tagged_with_other_languages_never_run(self) -> None:
        self.assertIsNone(self.choose('```json\n{"print(": 1}\n```\n```output\necho hi\n```'))
        self.assertEqual(self.choose("```python\nprint(1)\n```\n```typescript\nlet x: number = 1\n```"), ("python", "print(1)"))

    def test_shell_tags_run_with_bash_and_aliases_resolve(self) -> None:
        self.assertEqual(self.choose("```sh\nfor i in {1..3}; do echo $i; done\n```")[0], "bash")
        self.assertEqual(self.choose("```Shell\nls\n```")[0], "bash")
        self.assertEqual(self.choose("```dash\necho\n```")[0], "sh")
        self.assertEqual(self.choose("```js\nconsole.log(1)\n```")[0], "javascript")
        self.assertEqual(self.choose("```{python}\nprint(1)\n```")[0], "python")
        self.assertEqual(self.choose('```python title="x.py"\nprint(1)\n```')[0], "python")

    def test_untagged_fallbacks_shebang_then_python_then_bash(self) -> None:
        self.assertEqual(self.choose("```\n#!/usr/bin/env python3\nx = 1\n```")[0], "python")
        self.assertEqual(self.choose("```\n#!/bin/sh\nls\n```")[0], "bash")
        self.assertEqual(self.choose("```\n#!/usr/bin/env node\nx = 1\n```")[0], "javascript")
        self.assertEqual(self.choose("```\nimport os\n```")[0], "python")
        self.assertEqual(self.choose("```\necho hello\n```")[0], "bash")
        self.assertIsNone(self.choose("```\n42\n```"))

    def test_fences_follow_commonmark(self) -> None:
        nested = "````python\ns = '''\n```\n'''\nprint(s)\n````"
        self.assertEqual(self.choose(nested), ("python", "s = '''\n```\n'''\nprint(s)"))
        self.assertEqual(self.choose("~~~python\nprint('~')\n~~~"), ("python", "print('~')"))
        self.assertEqual(self.choose("  ```python\nprint(1)\n  ```"), ("python", "print(1)"))
        self.assertEqual(self.choose("Cut off:\n```python\nprint(1)"), ("python", "print(1)"))

    def test_reasoning_and_tool_call_sections_are_ignored(self) -> None:
        text = (
            '<details type="reasoning" done="true">\n<summary>Thought</summary>\n```bash\nrm -rf /\n```\n</details>\n'
            "```python\nprint('answer')\n```\n"
            '<details type="tool_calls"><details><summary>x</summary>```bash\necho nested\n```</details></details>'
        )
        self.assertEqual(self.choose(text), ("python", "print('answer')"))

    def test_our_own_output_is_never_picked_up_again(self) -> None:
        outcome = self.plugin.Outcome(language="bash", status="success", summary="Bash ran.", ran=True, stdout="echo hi\nimport x\n")
        appended = self.plugin._output_markdown(outcome, self.plugin.WardenValves())
        self.assertEqual(self.choose("```bash\necho hi\n```" + appended), ("bash", "echo hi"))
        self.assertIsNone(self.choose("Just prose." + appended))

    def test_no_code_and_empty_blocks(self) -> None:
        self.assertIsNone(self.choose("No code here."))
        self.assertIsNone(self.choose("```python\n\n```"))


class ActionTests(unittest.TestCase):
    def setUp(self) -> None:
        patcher = mock.patch.dict(os.environ, {k: v for k, v in os.environ.items() if not k.startswith("CODE_EVAL_")}, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.plugin = load_plugin(ACTION_PATH, "warden_action_under_test")
        self.action = self.plugin.Action()
        self.action.valves = self.action.Valves(WARDEN_URL=OPEN_SERVER.start().url)
        self.recorder = Recorder()

    def click(self, content: str, clicked: str = "a2", extra: list[dict] | None = None) -> None:
        messages = [
            {"id": "u1", "role": "user", "content": "Write code please", "timestamp": 1},
            {"id": "a2", "role": "assistant", "content": content, "timestamp": 2},
            *(extra or []),
        ]
        body = {"id": clicked, "chat_id": "chat-7", "session_id": "s", "model": "m", "messages": messages}
        returned = asyncio.run(self.action.action(body, __user__=USER, __event_emitter__=self.recorder))
        self.assertIsNone(returned)

    def appended(self) -> str:
        messages = self.recorder.of("message")
        self.assertEqual(len(messages), 1)
        return messages[0]["content"]

    def test_runs_the_last_block_and_appends_output_with_the_card(self) -> None:
        self.click("Here:\n```python\nprint('first')\n```\nOr better:\n```python\nprint(2 ** 10)\n```")
        text = self.appended()
        self.assertIn("**I ran this Python code on Warden.** Python ran successfully", text)
        self.assertIn("```output\n1024\n```", text)
        card = self.recorder.cards()[-1]
        self.assertEqual((card["code"], card["language"], card["result"]), ("print(2 ** 10)", "python", {"output": "1024\n"}))
        self.assertTrue(self.recorder.of("status")[-1]["done"])

    def test_runs_the_clicked_message_not_the_last_one(self) -> None:
        later = [{"id": "u3", "role": "user", "content": "thanks"}, {"id": "a4", "role": "assistant", "content": "```bash\necho later\n```"}]
        self.click("```bash\necho clicked\n```", clicked="a2", extra=later)
        self.assertIn("clicked", self.appended())

    def test_failing_code_shows_the_error_and_stderr(self) -> None:
        self.click("```javascript\nthrow new Error('boom')\n```")
        text = self.appended()
        self.assertIn("JavaScript: The program exited with code 1.", text)
        self.assertIn("```stderr\n", text)
        self.assertIn("Error: boom", text)
        self.assertIn("Error: boom", self.recorder.cards()[-1]["result"]["error"])

    def test_timeout_is_explained(self) -> None:
        self.action.valves = self.action.Valves(WARDEN_URL=OPEN_SERVER.url, MAX_RUNTIME_SECONDS=1)
        self.click("```bash\nsleep 5\n```")
        self.assertIn("did not finish within 1 s", self.appended())

    def test_no_runnable_code_is_a_warning_not_a_message(self) -> None:
        self.click("Just words, and ```json\n{}\n``` data.")
        self.assertEqual(self.recorder.of("message"), [])
        notice = self.recorder.of("notification")[0]
        self.assertEqual(notice["type"], "warning")
        self.assertIn("No code block", notice["content"])
        self.assertIn("python", notice["content"])

    def test_user_message_is_refused(self) -> None:
        self.click("```python\nprint(1)\n```", clicked="u1")
        self.assertIn("model's answers", self.recorder.of("status")[-1]["description"])
        self.assertEqual(self.recorder.cards(), [])

    def test_server_down_is_a_clear_error(self) -> None:
        self.action.valves = self.action.Valves(WARDEN_URL=f"http://127.0.0.1:{free_port()}")
        self.click("```python\nprint(1)\n```")
        self.assertEqual(self.recorder.of("message"), [])
        self.assertIn("Cannot reach the Warden server", self.recorder.of("notification")[0]["content"])

    def test_user_identity_reaches_warden(self) -> None:
        # safe-code-execution's Action loses __user__; this one forwards it. A stub records the headers.
        stub = HeaderStub(success_result())
        self.addCleanup(stub.close)
        self.action.valves = self.action.Valves(WARDEN_URL=stub.url)
        self.click("```python\nprint(1)\n```")
        headers = stub.execute_headers()
        self.assertEqual((headers["X-User-Id"], headers["X-User-Name"], headers["X-Chat-Id"]), ("user-0001", "Zo%C3%AB Q", "chat-7"))
        self.assertEqual(stub.requests[0]["headers"]["X-User-Id"], "user-0001")  # the runtimes lookup too

    def test_files_are_listed_text_inline_and_images_as_message_files(self) -> None:
        files: list[dict[str, Any]] = [
            {"name": "out.txt", "size": 6, "mime_type": "text/plain", "content_base64": "aGVsbG8K"},
            {"name": "pic.gif", "size": 3, "mime_type": "image/gif", "content_base64": "R0lG"},
            {"name": "huge.bin", "size": 10 * 1024 * 1024, "mime_type": "application/octet-stream", "content_base64": None},
        ]
        stub = HeaderStub(success_result(files=files, stdout=""))
        self.addCleanup(stub.close)
        self.action.valves = self.action.Valves(WARDEN_URL=stub.url, ADDITIONAL_CONTEXT="Files vanish after each run.")
        self.click("```python\nwrite files\n```")
        text = self.appended()
        self.assertIn("`out.txt` (6 bytes):\n```\nhello\n```", text)
        self.assertIn("`pic.gif` (3 bytes), shown with this message", text)
        self.assertIn("`huge.bin` (10.0 MiB), too large to show here", text)
        self.assertIn("> Files vanish after each run.", text)
        self.assertEqual(self.recorder.of("files")[0]["files"][0]["url"], "data:image/gif;base64,R0lG")


if __name__ == "__main__":
    unittest.main()
