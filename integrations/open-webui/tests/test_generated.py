"""The two plugin files are generated from one source (generate.py): a hand edit to either, or a source change not
regenerated, fails here."""

import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class GeneratedPluginsTest(unittest.TestCase):
    def test_plugin_files_match_their_sources(self):
        result = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--check"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_both_plugins_carry_the_same_client(self):
        client = (ROOT / "src" / "client.py").read_text()
        for plugin in ("tools/run_code.py", "functions/run_code.py"):
            self.assertIn(client, (ROOT / plugin).read_text(), plugin)


if __name__ == "__main__":
    unittest.main()
