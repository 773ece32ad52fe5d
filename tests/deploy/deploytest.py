"""Shared facts for the deployment tests: the repository, Warden's real settings and routes, the compose file."""
import os
import re
import shutil
import subprocess
import unittest
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CI = os.environ.get("CI") == "true"

# What the bwrap backend needs in a container, each demonstrated by tests/deploy/test_image.py (removing any one
# breaks something) and explained in deploy/compose.yaml.
BWRAP_CAPS = {"SYS_ADMIN", "SETUID", "SETGID", "SETFCAP", "CHOWN", "DAC_OVERRIDE", "KILL"}
GVISOR_CAPS = (BWRAP_CAPS - {"SETFCAP"}) | {"SYS_CHROOT"}


def warden_settings():
    """Every flat WARDEN_* environment variable SettingsCatalog.cs documents."""
    text = (REPO / "src/Warden.Core/Configuration/SettingsCatalog.cs").read_text()
    return set(re.findall(r'new\("[^"]+", "(WARDEN_[A-Z0-9_]+)"', text))


def is_warden_setting(name, catalog):
    return name in catalog


def anonymous_routes():
    """GET routes the server maps (path literals), from the sources."""
    routes = set()
    for cs in (REPO / "src/Warden.Server").rglob("*.cs"):
        routes.update(re.findall(r'MapGet\("(/[^"]*)"', cs.read_text()))
    return routes


def compose_file():
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def require_tool(test, name):
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path is None:
        if CI:
            test.fail(f"{name} is required (scripts/test.d/deploy.sh installs it)")
        raise unittest.SkipTest(f"{name} is not installed")
    return path


def run(args, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    return subprocess.run(args, **kwargs)
