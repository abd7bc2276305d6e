"""Start the daemon the way systemd does and wait for READY=1 and a healthy status, then stop it.

Usage: notify_wait.py --timeout SECONDS --socket CONTROL-SOCKET [--keep] -- COMMAND...

Binds a notify socket, runs COMMAND with NOTIFY_SOCKET set, and succeeds once
the daemon has sent READY=1 and its control socket reports healthy. Used by
`update --prefix`, where no systemd starts the new version. Without --keep the
daemon is stopped with SIGTERM afterwards. Exit codes: 0 ready and healthy,
1 it exited, timed out or stayed unhealthy, 2 bad usage.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from control import call  # a sibling helper, importable once the path is set

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def wait_ready(proc: subprocess.Popen[bytes], notify: socket.socket, deadline: float) -> str:
    """'' once READY=1 arrived, else why not."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"the daemon exited with status {proc.returncode} before READY=1"
        try:
            data = notify.recv(4096).decode()
        except TimeoutError:
            continue
        if "READY=1" in data.splitlines():
            return ""
    return "no READY=1 before the timeout"


def wait_healthy(proc: subprocess.Popen[bytes], control: str, deadline: float) -> str:
    last = "the control socket never answered"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"the daemon exited with status {proc.returncode} after READY=1"
        try:
            reply = call(control, "status", {}, timeout=3.0)
            status = reply.get("result") or {}
            if status.get("healthy"):
                return ""
            last = f"unhealthy: {', '.join(status.get('failing') or ['?'])}"
        except (OSError, ValueError) as err:
            last = f"control socket: {err}"
        time.sleep(0.5)
    return last


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    options, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    try:
        timeout = float(options[options.index("--timeout") + 1])
        control = options[options.index("--socket") + 1]
    except (ValueError, IndexError):
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    with tempfile.TemporaryDirectory(prefix="appliance-notify-") as folder:
        address = os.path.join(folder, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(address)
        notify.settimeout(0.2)
        proc = subprocess.Popen(command, env={**os.environ, "NOTIFY_SOCKET": address})
        deadline = time.monotonic() + timeout
        problem = wait_ready(proc, notify, deadline) or wait_healthy(proc, control, deadline)
        if ("--keep" not in options or problem) and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        notify.close()
    if problem:
        print(f"notify_wait: {problem}", file=sys.stderr)
    print(json.dumps({"ready": not problem, "problem": problem, "command": command[0]}))
    return EXIT_FAIL if problem else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
