"""Valves, CODE_EVAL_VALVE_OVERRIDE_<NAME> parsing, and the client block both plugins share."""

from __future__ import annotations

import os
import re
import unittest
from unittest import mock

from support import ACTION_PATH, TOOL_PATH, load_plugin

EXPECTED_VALVES = [
    "WARDEN_URL", "WARDEN_API_KEY", "NETWORKING_ALLOWED", "MAX_RUNTIME_SECONDS", "MAX_RAM_MEGABYTES",
    "MAX_FILES_PER_EXECUTION", "MAX_FILES_PER_USER", "MAX_MEGABYTES_PER_USER", "DEBUG", "ADDITIONAL_CONTEXT",
]
SHARED = re.compile(r"# ---- Warden client: begin.*?# ---- Warden client: end ----", re.DOTALL)


class OverrideTests(unittest.TestCase):
    def setUp(self) -> None:
        patcher = mock.patch.dict(os.environ, {k: v for k, v in os.environ.items() if not k.startswith("CODE_EVAL_")}, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.plugin = load_plugin(TOOL_PATH, "warden_tool_valves")
        self.valves = self.plugin.Tools().valves

    def effective(self, **env: str):
        for name in [k for k in os.environ if k.startswith("CODE_EVAL_")]:
            del os.environ[name]
        os.environ.update({f"CODE_EVAL_VALVE_OVERRIDE_{k}": v for k, v in env.items()})
        return self.plugin.effective_valves(self.valves)

    def misconfigured(self, **env: str) -> str:
        with self.assertRaises(self.plugin.WardenError) as caught:
            self.effective(**env)
        self.assertEqual(caught.exception.kind, "misconfigured")
        return caught.exception.message

    def test_no_override_keeps_the_saved_valves(self) -> None:
        self.assertIs(self.effective(), self.valves)

    def test_bools_accept_true_false_in_any_case_only(self) -> None:
        self.assertTrue(self.effective(NETWORKING_ALLOWED="TRUE").NETWORKING_ALLOWED)
        self.assertFalse(self.effective(DEBUG="False").DEBUG)
        self.assertIn('must be "true" or "false"', self.misconfigured(DEBUG="1"))
        self.assertIn('must be "true" or "false"', self.misconfigured(DEBUG="yes"))

    def test_ints_parse_with_int_and_keep_their_bounds(self) -> None:
        self.assertEqual(self.effective(MAX_RUNTIME_SECONDS=" 12 ").MAX_RUNTIME_SECONDS, 12)
        self.assertIn("must be an integer", self.misconfigured(MAX_RAM_MEGABYTES="12.5"))
        self.assertIn("greater than or equal to 0", self.misconfigured(MAX_FILES_PER_USER="-1"))

    def test_strings_pass_through_verbatim(self) -> None:
        valves = self.effective(WARDEN_URL="http://warden:8090", WARDEN_API_KEY=" s3cret ", ADDITIONAL_CONTEXT="")
        self.assertEqual((valves.WARDEN_URL, valves.WARDEN_API_KEY, valves.ADDITIONAL_CONTEXT), ("http://warden:8090", " s3cret ", ""))

    def test_override_wins_over_saved_valve_and_is_read_on_every_call(self) -> None:
        self.valves = self.valves.model_copy(update={"MAX_RUNTIME_SECONDS": 5})
        self.assertEqual(self.effective(MAX_RUNTIME_SECONDS="7").MAX_RUNTIME_SECONDS, 7)
        self.assertEqual(self.effective().MAX_RUNTIME_SECONDS, 5)

    def test_api_key_is_never_echoed_in_errors(self) -> None:
        message = self.misconfigured(WARDEN_API_KEY="top-secret", DEBUG="maybe")
        self.assertNotIn("top-secret", message)


class ShapeTests(unittest.TestCase):
    def test_both_plugins_have_every_valve_with_a_description_naming_its_override(self) -> None:
        for path, cls in ((TOOL_PATH, "Tools"), (ACTION_PATH, "Action")):
            plugin = load_plugin(path, f"warden_{cls.lower()}_shape")
            fields = getattr(plugin, cls).Valves.model_fields
            self.assertEqual(list(fields), EXPECTED_VALVES)
            for name, info in fields.items():
                self.assertIn(f"CODE_EVAL_VALVE_OVERRIDE_{name}", info.description)
            schema = getattr(plugin, cls).Valves.model_json_schema()
            self.assertEqual(schema["properties"]["WARDEN_API_KEY"]["input"], {"type": "password"})

    def test_shared_client_block_is_identical_in_both_files(self) -> None:
        tool = SHARED.search(TOOL_PATH.read_text(encoding="utf-8"))
        action = SHARED.search(ACTION_PATH.read_text(encoding="utf-8"))
        self.assertIsNotNone(tool)
        self.assertEqual(tool.group(0), action.group(0), "edit the shared block in one file, then copy it to the other")


if __name__ == "__main__":
    unittest.main()
