"""deploy/compose.yaml: valid for docker-compose, least privilege for Warden, and Open WebUI wired to Warden only
through variables Open WebUI really reads and Warden settings that exist. (Open WebUI's image cannot be pulled here;
the Warden service itself runs for real in test_image.py with exactly these privileges.)"""
import json
import tempfile
import unittest
from pathlib import Path
from urllib.parse import urlparse

import yaml

from deploytest import BWRAP_CAPS, DEPLOY, REPO, is_warden_setting, require_tool, run, warden_settings

KEY = "test-key-0123456789abcdef"

# The Open WebUI variables the compose file may set: those /work/shared/reference/open-webui.md documents (sections 1.1
# and 3.2) for the Jupyter engine and the Open Terminal connection.
OPEN_WEBUI_VARIABLES = {
    "ENABLE_CODE_EXECUTION", "CODE_EXECUTION_ENGINE", "CODE_EXECUTION_JUPYTER_URL", "CODE_EXECUTION_JUPYTER_AUTH",
    "CODE_EXECUTION_JUPYTER_AUTH_TOKEN", "CODE_EXECUTION_JUPYTER_AUTH_PASSWORD", "CODE_EXECUTION_JUPYTER_TIMEOUT",
    "ENABLE_CODE_INTERPRETER", "CODE_INTERPRETER_ENGINE", "CODE_INTERPRETER_JUPYTER_URL", "CODE_INTERPRETER_JUPYTER_AUTH",
    "CODE_INTERPRETER_JUPYTER_AUTH_TOKEN", "CODE_INTERPRETER_JUPYTER_AUTH_PASSWORD", "CODE_INTERPRETER_JUPYTER_TIMEOUT",
    "TERMINAL_SERVER_CONNECTIONS",
}


def compose_config(*files, env=None):
    compose = require_tool(unittest.TestCase(), "docker-compose")
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / ".env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in (env or {}).items()))
        args = [compose, "--project-directory", str(DEPLOY), "--env-file", str(env_file)]
        for f in files:
            args += ["-f", str(DEPLOY / f)]
        return run(args + ["config"], cwd=tmp)


class ComposeFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        result = compose_config("compose.yaml", env={"WARDEN_API_KEY": KEY})
        assert result.returncode == 0, result.stderr
        cls.config = yaml.safe_load(result.stdout)
        cls.warden = cls.config["services"]["warden"]
        cls.webui = cls.config["services"]["open-webui"]

    def test_refuses_to_start_without_an_api_key(self):
        result = compose_config("compose.yaml", env={})
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("set WARDEN_API_KEY in deploy/.env", result.stderr)

    def test_warden_has_exactly_the_documented_privileges(self):
        w = self.warden
        self.assertFalse(w.get("privileged", False))
        self.assertEqual(w["cap_drop"], ["ALL"])
        self.assertEqual(set(w["cap_add"]), BWRAP_CAPS)
        self.assertEqual(set(w["security_opt"]), {"no-new-privileges=true", "seccomp=unconfined", "apparmor=unconfined"})
        self.assertIs(w["read_only"], True)
        self.assertEqual(w["user"], "0:0")
        for forbidden in ["devices", "pid", "ipc", "network_mode", "cgroup_parent", "userns_mode"]:
            self.assertNotIn(forbidden, w)
        # Only the named state volume: no host paths (no /sys/fs/cgroup, no docker.sock).
        self.assertEqual(w["volumes"], ["warden-state:/var/lib/warden:rw"])  # docker-compose v1 prints short syntax
        self.assertIn("warden-state", self.config["volumes"])
        self.assertNotIn("ports", w)  # reached by Open WebUI over the project network only

    def test_warden_variables_are_real_settings(self):
        catalog = warden_settings()
        env = self.warden["environment"]
        self.assertEqual(env["WARDEN_API_KEY"], KEY)
        self.assertEqual([n for n in env if not is_warden_setting(n, catalog)], [])

    def test_open_webui_sets_only_variables_it_reads(self):
        env = self.webui["environment"]
        self.assertEqual(set(env) - OPEN_WEBUI_VARIABLES, set())
        reference = REPO.parent / "shared/reference/open-webui.md"
        if reference.exists():  # the reference this list was taken from, when it is beside the repository
            text = reference.read_text()
            for name in env:
                base = name.replace("CODE_INTERPRETER_JUPYTER_", "CODE_EXECUTION_JUPYTER_")
                self.assertTrue(name in text or base in text, name)

    def test_jupyter_engine_points_at_warden_with_its_key(self):
        env = self.webui["environment"]
        for prefix in ["CODE_EXECUTION", "CODE_INTERPRETER"]:
            self.assertEqual(env[f"{prefix}_ENGINE"], "jupyter")
            url = urlparse(env[f"{prefix}_JUPYTER_URL"])
            self.assertEqual((url.hostname, url.port, url.path), ("warden", 8090, ""))  # the root, no path
            self.assertEqual(env[f"{prefix}_JUPYTER_AUTH"], "token")
            self.assertEqual(env[f"{prefix}_JUPYTER_AUTH_TOKEN"], KEY)
        self.assertEqual(self.warden["expose"], ["8090"])

    def test_open_terminal_connection_points_at_warden_terminal_api(self):
        connections = json.loads(self.webui["environment"]["TERMINAL_SERVER_CONNECTIONS"])
        self.assertEqual(len(connections), 1)
        c = connections[0]
        self.assertEqual(urlparse(c["url"]).hostname, "warden")
        self.assertEqual(urlparse(c["url"]).path, "/terminal")  # Warden:OpenTerminal:BasePath default
        self.assertEqual((c["path"], c["auth_type"], c["key"], c["enabled"]), ("/openapi.json", "bearer", KEY, True))

    def test_session_auth_validates_against_the_open_webui_service(self):
        url = urlparse(self.warden["environment"]["WARDEN_OPEN_WEBUI_URL"])
        self.assertEqual(url.hostname, "open-webui")
        self.assertEqual(url.port, int(self.webui["ports"][0].split(":")[2].split("/")[0]))

    def test_open_webui_waits_for_a_healthy_warden_and_is_published_on_loopback_only(self):
        self.assertEqual(self.webui["depends_on"]["warden"]["condition"], "service_healthy")
        for port in self.webui["ports"]:
            self.assertTrue(port.startswith("127.0.0.1:"), port)

    def test_secrets_are_placeholders_and_the_env_file_is_ignored(self):
        example = (DEPLOY / ".env.example").read_text()
        self.assertIn("WARDEN_API_KEY=replace-with-a-long-random-secret", example)
        self.assertFalse((DEPLOY / ".env").exists() and run(["git", "-C", str(REPO), "ls-files", "--error-unmatch", "deploy/.env"]).returncode == 0)
        ignored = run(["git", "-C", str(REPO), "check-ignore", "-q", "deploy/.env"])
        self.assertEqual(ignored.returncode, 0)


class GvisorOverride(unittest.TestCase):
    def test_adds_the_backend_and_only_sys_chroot(self):
        result = compose_config("compose.yaml", "compose.gvisor.yaml", env={"WARDEN_API_KEY": KEY})
        self.assertEqual(result.returncode, 0, result.stderr)
        warden = yaml.safe_load(result.stdout)["services"]["warden"]
        self.assertEqual(warden["environment"]["WARDEN_BACKEND"], "gvisor")
        self.assertEqual(set(warden["cap_add"]), BWRAP_CAPS | {"SYS_CHROOT"})
        self.assertFalse(warden.get("privileged", False))


if __name__ == "__main__":
    unittest.main()
