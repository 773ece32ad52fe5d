"""`python3 run_code.py --self_test` for both plugins: safe-code-execution's list, its output lines, its exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest

from support import ACTION_PATH, OPEN_SERVER, TOOL_PATH, free_port

NAMES = ["simple_python", "simple_bash", "bad_syntax_python", "bad_syntax_bash", "long_running_code", "ram_hog"]


def self_test(path, url: str, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODE_EVAL_")}
    env["CODE_EVAL_VALVE_OVERRIDE_WARDEN_URL"] = url
    return subprocess.run([sys.executable, str(path), *extra], env=env, capture_output=True, text=True, timeout=300)


class SelfTestTests(unittest.TestCase):
    def test_both_plugins_pass_against_a_real_server(self) -> None:
        for path, what in ((TOOL_PATH, "tool"), (ACTION_PATH, "function")):
            with self.subTest(what):
                run = self_test(path, OPEN_SERVER.start().url, "--self_test")
                self.assertEqual(run.returncode, 0, run.stderr)
                for name in NAMES:
                    self.assertIn(f"\u23f3 Running self-test: {name}\n\u2714 Self-test {name} passed.", run.stderr)
                self.assertIn(f"\u2705 All {what} self-tests passed, good go to!", run.stderr)

    def test_unreachable_server_fails_with_exit_code_1(self) -> None:
        run = self_test(TOOL_PATH, f"http://127.0.0.1:{free_port()}", "--self_test", "--self_test_filter=simple_bash")
        self.assertEqual(run.returncode, 1)
        self.assertIn("\u274c Self-test simple_bash failed: status was unreachable, expected success", run.stderr)
        self.assertNotIn("simple_python", run.stderr)
        self.assertNotIn("Traceback", run.stderr)

    def test_without_the_flag_it_explains_usage(self) -> None:
        run = self_test(ACTION_PATH, OPEN_SERVER.url)
        self.assertEqual(run.returncode, 2)
        self.assertIn("--self_test", run.stderr)


if __name__ == "__main__":
    unittest.main()
