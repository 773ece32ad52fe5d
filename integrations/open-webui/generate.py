#!/usr/bin/env python3
"""Writes the two Open WebUI plugin files from one source.

Open WebUI installs a plugin as one self-contained .py file, so the Tool (tools/run_code.py) and the Action
(functions/run_code.py) each carry the whole Warden client. It is written once, in src/client.py; each plugin adds
its front matter and its own class (src/tool.py, src/action.py). Edit those, then run this script.
`generate.py --check` exits 1 when a committed plugin file differs from what it would write (tests/test_generated.py).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

FRONT_MATTER = '''"""
title: Run code (Warden)
author: Warden
description: {description}
required_open_webui_version: 0.5.0
version: 1.0.0
licence: MIT
"""

'''

PLUGINS = {
    "tools/run_code.py": (
        "Lets the model run Python, Bash and every other language a Warden server offers, in Warden's sandboxes.",
        "src/tool.py",
    ),
    "functions/run_code.py": (
        'A "Run code" button under the model\'s answers: runs the answer\'s last code block in a Warden sandbox and shows the output below it.',
        "src/action.py",
    ),
}


def render(target: str) -> str:
    description, own = PLUGINS[target]
    return FRONT_MATTER.format(description=description) + (HERE / "src/client.py").read_text() + (HERE / own).read_text()


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for target in PLUGINS:
        path = HERE / target
        text = render(target)
        current = path.read_text() if path.exists() else None
        if current != text:
            if check:
                stale.append(target)
            else:
                path.write_text(text)
    if stale:
        print("out of date (run integrations/open-webui/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
