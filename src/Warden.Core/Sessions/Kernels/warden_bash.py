"""Warden's bash kernel driver: one persistent bash process; each cell is sourced into it. Protocol: README.md."""
import json
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import warden_kernel  # noqa: E402  (shares the protocol writer and the output capture)

CELL_FILE = "/tmp/.warden-cell.sh"
# A trap that returns from the sourced cell: an interrupt ends the cell, not the shell.
PRELUDE = "trap 'return 130 2>/dev/null' INT\n"


def main():
    warden_kernel._proto_out = os.dup(1)
    proto_in = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    capture = warden_kernel.Capture()
    # The driver itself ignores interrupts; bash and the cell's commands get them (SIG_DFL is restored for them).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    status_read, status_write = os.pipe()
    shell = subprocess.Popen(
        ["/bin/bash", "--noprofile", "--norc"], stdin=subprocess.PIPE, stdout=1, stderr=2, pass_fds=(status_write,),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), cwd=os.environ.get("HOME", "/"))
    os.close(status_write)
    statuses = os.fdopen(status_read, "r")
    shell.stdin.write(PRELUDE.encode())
    shell.stdin.flush()
    warden_kernel.send({"type": "ready", "implementation": "warden-bash", "language_version": os.environ.get("BASH_VERSION", "")})
    requests = os.fdopen(proto_in, "rb")
    for line in requests:
        request = json.loads(line)
        if request.get("op") != "execute":
            break
        warden_kernel._cell_id = request["id"]
        with open(CELL_FILE, "w") as cell:
            cell.write(request["code"] + "\n")
        shell.stdin.write(f"source {CELL_FILE}; echo $? >&{status_write}\n".encode())
        shell.stdin.flush()
        code = statuses.readline().strip()
        capture.flush()
        if not code:
            warden_kernel.send({"type": "error", "id": request["id"], "ename": "ShellExited", "evalue": "bash exited",
                                "traceback": ["bash exited"]})
            warden_kernel.send({"type": "done", "id": request["id"], "status": "error"})
            return
        status = "ok"
        if code != "0":
            status = "error"
            name = "KeyboardInterrupt" if code == "130" else "ExitStatus"
            warden_kernel.send({"type": "error", "id": request["id"], "ename": name, "evalue": f"exit status {code}",
                                "traceback": [f"{name}: the cell's last command exited with status {code}"]})
        warden_kernel.send({"type": "done", "id": request["id"], "status": status})
        warden_kernel._cell_id = None
    shell.stdin.close()


if __name__ == "__main__":
    main()
