"""Builds Warden's image with deploy/build-image.sh (no registry) and runs it with exactly the privileges of
deploy/compose.yaml's warden service, then checks it really works that way.

Network: the container gets `--network none`. Docker publishes ports through a bridge of private addresses, which tests
here must not talk to; instead the client enters the container's own network namespace (made by this test) and calls
Warden on 127.0.0.1:8090 there: the same socket a published port would reach."""
import json
import os
import re
import subprocess
import threading
import time
import unittest
import uuid
from pathlib import Path

import yaml

from deploytest import BWRAP_CAPS, CI, REPO, compose_file, run

DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
IMAGE = os.environ.get("WARDEN_DEPLOY_IMAGE", "warden:latest")
KEY = "deploy-test-" + uuid.uuid4().hex
MEASUREMENTS = REPO / "artifacts" / "test-logs" / "deploy-measurements.txt"

CAP_BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6,
            "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18, "SYS_PTRACE": 19,
            "SYS_ADMIN": 21, "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}


def docker(*args, timeout=300, check=True):
    result = run([DOCKER, *args], timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed: {result.stderr.strip()}")
    return result


def run_args(service, state_volume, env, without_cap=None):
    """`docker run` flags equivalent to the compose service (privileges, filesystem), on a fresh state volume."""
    args = ["--user", service["user"], "--network", "none"]
    args += [f"--cap-drop={c}" for c in service["cap_drop"]]
    args += [f"--cap-add={c}" for c in service["cap_add"] if c != without_cap]
    args += [f"--security-opt={o}" for o in service["security_opt"]]
    if service.get("read_only"):
        args.append("--read-only")
    args += [f"--tmpfs={t}" for t in service.get("tmpfs", [])]
    for volume in service["volumes"]:
        _, target = volume.split(":")[:2]
        args += ["--mount", f"type=volume,source={state_volume},target={target}"]
    assert not service.get("privileged")
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    return args


def require_docker():
    if os.geteuid() != 0 or run([DOCKER, "version"], timeout=30).returncode != 0:
        message = "needs root and a running dockerd (scripts/test.d/docker.sh starts one)"
        if CI:
            raise AssertionError(message)
        raise unittest.SkipTest(message)


def record(line):
    MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
    with MEASUREMENTS.open("a") as f:
        f.write(line + "\n")
    print(f"\n  [measured] {line}", flush=True)


_built = False


def build_image_once():
    """Builds the image from this checkout once per run, for whichever test class needs it first (unittest orders
    classes by name, so EachCapabilityIsNeeded runs before Image: it must not rely on an image left by an earlier run)."""
    global _built
    if _built:
        return
    started = time.monotonic()
    build = run([str(REPO / "deploy/build-image.sh"), IMAGE], timeout=1800)
    assert build.returncode == 0, build.stderr[-3000:]
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE).stdout)
    record(f"deploy/build-image.sh: {time.monotonic() - started:.0f} s (base images cached or not: see its log); image {size / 1048576:.0f} MB")
    _built = True


class Image(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_docker()
        build_image_once()
        cls.service = compose_file()["services"]["warden"]
        cls.name = "warden-deploy-test-" + uuid.uuid4().hex[:8]
        cls.volume = cls.name + "-state"
        env = {"WARDEN_API_KEY": KEY, "WARDEN_OPEN_WEBUI_URL": cls.service["environment"]["WARDEN_OPEN_WEBUI_URL"]}
        t0 = time.monotonic()
        docker("run", "-d", "--name", cls.name, *run_args(cls.service, cls.volume, env), IMAGE)
        cls.healthy_after = None
        while time.monotonic() - t0 < 120:
            status = docker("inspect", "-f", "{{.State.Health.Status}} {{.State.Running}}", cls.name).stdout.split()
            if status[0] == "healthy":
                cls.healthy_after = time.monotonic() - t0
                break
            if status[1] != "true":
                break
            time.sleep(0.25)
        if cls.healthy_after is not None:
            record(f"container start to healthy: {cls.healthy_after:.1f} s (HEALTHCHECK every 5 s)")
        cls.pid = docker("inspect", "-f", "{{.State.Pid}}", cls.name).stdout.strip()
        cls.container_id = docker("inspect", "-f", "{{.Id}}", cls.name).stdout.strip()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "name", None):
            logs = run([DOCKER, "logs", cls.name], timeout=60)
            (MEASUREMENTS.parent / "deploy-container.log").write_text(logs.stdout + logs.stderr)
            run([DOCKER, "rm", "-f", cls.name], timeout=60)
            run([DOCKER, "volume", "rm", "-f", cls.volume], timeout=60)

    # --- a client inside the container's network namespace (127.0.0.1 there) ---------------------------------------
    def http(self, method, path, body=None, key=KEY, headers=None):
        args = ["nsenter", "-t", self.pid, "-n", "curl", "-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}",
                "-X", method, f"http://127.0.0.1:8090{path}"]
        if key:
            args += ["-H", f"Authorization: Bearer {key}"]
        for k, v in (headers or {}).items():
            args += ["-H", f"{k}: {v}"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        result = run(args, timeout=90)
        self.assertEqual(result.returncode, 0, result.stderr)
        text, _, code = result.stdout.rpartition("\n")
        return int(code), text

    def execute(self, **request):
        code, text = self.http("POST", "/api/v1/execute", {"language": "python", **request})
        self.assertEqual(code, 200, text)
        return json.loads(text)

    # --- the tests -------------------------------------------------------------------------------------------------
    def test_healthcheck_becomes_healthy(self):
        self.assertIsNotNone(self.healthy_after, docker("logs", self.name).stderr[-2000:])
        self.assertLess(self.healthy_after, 60)

    def test_runs_with_exactly_the_compose_privileges(self):
        host = json.loads(docker("inspect", self.name).stdout)[0]["HostConfig"]
        self.assertFalse(host["Privileged"])
        self.assertEqual(host["CapDrop"], ["ALL"])
        self.assertEqual({c.removeprefix("CAP_") for c in host["CapAdd"]}, BWRAP_CAPS)
        self.assertTrue(host["ReadonlyRootfs"])
        self.assertEqual(set(host["SecurityOpt"]), set(self.service["security_opt"]))
        self.assertFalse([b for b in host.get("Binds") or [] if b.startswith("/")])  # no host paths

    def test_service_process_is_root_with_only_those_capabilities(self):
        top = docker("top", self.name, "-eo", "pid,uid,args").stdout.splitlines()[1:]
        warden = [line.split() for line in top if "/opt/warden/warden serve" in line]
        self.assertEqual(len(warden), 1, top)
        status = Path(f"/proc/{warden[0][0]}/status").read_text()
        self.assertRegex(status, r"Uid:\s+0\s+0\s+0\s+0")
        self.assertRegex(status, r"NoNewPrivs:\s+1")
        cap_eff = int(re.search(r"CapEff:\s+([0-9a-f]+)", status).group(1), 16)
        self.assertEqual(cap_eff, sum(1 << CAP_BITS[c] for c in BWRAP_CAPS))

    def test_doctor_passes_inside(self):
        result = docker("exec", self.name, "warden", "doctor", check=False, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("The backend can run.", result.stdout)
        self.assertNotIn("✘", result.stdout)
        self.assertIn("✔ cgroups: cgroup", result.stdout)

    def test_print_1_through_the_api(self):
        result = self.execute(code="print(1)")
        self.assertEqual((result["status"], result["stdout"], result["exit_code"]), ("success", "1\n", 0))

    def test_network_is_blocked_inside_the_sandbox(self):
        # The target is Warden's own port on the container's loopback: reachable from the container (control), not
        # from a sandbox, which has a network namespace of its own and a seccomp filter on AF_INET sockets.
        self.assertEqual(docker("exec", self.name, "curl", "-fsS", "http://127.0.0.1:8090/healthz").stdout, "ok\n")
        code = ("import socket\ntry:\n    s = socket.create_connection(('127.0.0.1', 8090), timeout=2)\n    print('connected')\n"
                "except OSError as e:\n    print('blocked', e.errno)")
        result = self.execute(code=code)
        self.assertEqual(result["status"], "success", result)
        self.assertTrue(result["stdout"].startswith("blocked"), result["stdout"])

    def test_untrusted_code_runs_under_an_unprivileged_slot_uid(self):
        seen = []

        def call():
            seen.append(self.execute(code="import time; time.sleep(3); print('done')", timeout=10))

        caller = threading.Thread(target=call)
        caller.start()
        uids = set()
        deadline = time.monotonic() + 8
        # Every python interpreter in the container is a sandbox's: the running program's, or a warm sandbox's waiting
        # for the next run (the pool is on by default, and a warm sandbox's argv names its stub, not main.py).
        while time.monotonic() < deadline and not uids:
            for line in docker("top", self.name, "-eo", "pid,uid,comm").stdout.splitlines()[1:]:
                fields = line.split()
                if len(fields) >= 3 and fields[2].startswith("python3"):
                    uids.add(int(fields[1]))
            time.sleep(0.2)
        caller.join(30)
        self.assertEqual(seen[0]["stdout"], "done\n")
        self.assertTrue(uids and all(uid >= 200000 for uid in uids), uids)  # Warden:SandboxUidBase

    def test_limits_are_enforced_by_the_containers_own_cgroup(self):
        hog = self.execute(code="x = bytearray(512 * 1024 * 1024)\nprint(len(x))", memory_mb=64)
        self.assertEqual(hog["status"], "memory_limit", hog)
        started = time.monotonic()
        spin = self.execute(code="while True: pass", timeout=1)
        self.assertEqual(spin["status"], "timeout", spin)
        self.assertLess(time.monotonic() - started, 10)
        # Warden's cgroups are inside this container's cgroup (no host-wide tree), so the container's limits bound them.
        own = f"/sys/fs/cgroup/memory/docker/{self.container_id}/warden"
        if os.path.isdir("/sys/fs/cgroup/memory/docker"):  # cgroup v1 with the cgroupfs driver, as here
            self.assertTrue(os.path.isdir(own), own)

    def test_api_needs_the_key_but_probes_do_not(self):
        code, _ = self.http("POST", "/api/v1/execute", {"language": "python", "code": "print(1)"}, key=None)
        self.assertEqual(code, 401)
        code, _ = self.http("POST", "/api/v1/execute", {"language": "python", "code": "print(1)"}, key="wrong")
        self.assertEqual(code, 401)
        for path in ["/healthz", "/readyz", "/api/v1/health"]:
            code, text = self.http("GET", path, key=None)
            self.assertEqual(code, 200, f"{path}: {text}")

    def test_terminal_user_gets_an_own_home(self):
        code, text = self.http("POST", "/terminal/execute?wait=20", {"command": "echo hi > note.txt && cat note.txt && id -u"},
                               headers={"X-User-Id": "alice"})
        self.assertEqual(code, 200, text)
        result = json.loads(text)
        output = "".join(chunk["data"] for chunk in result["output"])
        self.assertEqual(result["exit_code"], 0, output)
        self.assertTrue(output.startswith("hi\n"), output)

    def test_refuses_to_listen_on_all_interfaces_without_a_key(self):
        volume = self.name + "-nokey"
        try:
            result = docker("run", "--rm", *run_args(self.service, volume, {}), IMAGE, check=False, timeout=120)
        finally:
            run([DOCKER, "volume", "rm", "-f", volume], timeout=60)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Refusing to listen on http://0.0.0.0:8090 without an API key", result.stdout + result.stderr)


class EachCapabilityIsNeeded(unittest.TestCase):
    """Removing any one capability of compose.yaml breaks the bwrap backend: each is needed (none is decoration)."""

    PROGRAM = "open(__file__, 'a').write('#')\nprint(1)\n"  # the program owns its files (CHOWN)

    @classmethod
    def setUpClass(cls):
        require_docker()
        build_image_once()
        cls.service = compose_file()["services"]["warden"]

    def test_gvisor_backend_runs_with_the_override_and_needs_sys_chroot(self):
        override = yaml.safe_load((REPO / "deploy/compose.gvisor.yaml").read_text())["services"]["warden"]
        self.assertEqual(override["cap_add"], ["SYS_CHROOT"])
        gvisor = dict(self.service, cap_add=self.service["cap_add"] + override["cap_add"])
        with_chroot, _ = self.one_shot(None, self.PROGRAM, service=gvisor, backend="gvisor")
        self.assertIn('"status":"success","stdout":"1\\n"', with_chroot)
        without_chroot, _ = self.one_shot("SYS_CHROOT", self.PROGRAM, service=gvisor, backend="gvisor")
        self.assertNotIn('"status":"success"', without_chroot)
        self.assertIn("runsc", without_chroot)

    def one_shot(self, without, code, *extra, service=None, backend="bwrap"):
        volume = f"warden-deploy-cap-{uuid.uuid4().hex[:8]}"
        script = f'printf %s "$PROGRAM" > /tmp/main.py && exec /opt/warden/entrypoint.sh run --json {" ".join(extra)} /tmp/main.py'
        try:
            started = time.monotonic()
            env = {"PROGRAM": code, "WARDEN_BACKEND": backend}
            result = docker("run", "--rm", *run_args(service or self.service, volume, env, without_cap=without),
                            "--entrypoint", "/usr/bin/tini", IMAGE, "--", "/bin/sh", "-c", script, check=False, timeout=120)
            return result.stdout + result.stderr, time.monotonic() - started
        finally:
            run([DOCKER, "volume", "rm", "-f", volume], timeout=60)

    def test_with_all_of_them_it_works(self):
        out, _ = self.one_shot(None, self.PROGRAM)
        self.assertIn('"status":"success","stdout":"1\\n"', out)

    def test_each_one_is_needed(self):
        expected = {
            "SYS_ADMIN": "Can't mount proc",                  # (and the tmpfs workspaces)
            "SETUID": "warden-exec: setresuid",
            "SETGID": "warden-exec: setgroups",
            "SETFCAP": "setting up uid map",
            "CHOWN": "workspace could not be prepared: chown",  # Warden hands the program's files to the slot's uid
            "DAC_OVERRIDE": "Permission denied",
        }
        self.assertEqual(set(expected) | {"KILL"}, BWRAP_CAPS)
        for cap, symptom in expected.items():
            with self.subTest(without=cap):
                out, _ = self.one_shot(cap, self.PROGRAM)
                self.assertNotIn('"status":"success"', out)
                self.assertIn(symptom, out)

    def test_kill_is_needed_to_stop_a_sandbox_on_timeout(self):
        code = "import time\ntime.sleep(12)\n"
        _, with_kill = self.one_shot(None, code, "--timeout", "1")
        out, without_kill = self.one_shot("KILL", code, "--timeout", "1")
        self.assertLess(with_kill, 8)
        self.assertGreater(without_kill, 12, out)  # the sleeper could not be killed: it ran to its end


if __name__ == "__main__":
    unittest.main()
