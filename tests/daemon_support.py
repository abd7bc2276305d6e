"""The real daemon in a subprocess (``appliance run``) for integration tests: a state dir of its own over
the shared joined models, its own runtime dir, its log in a file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from appliance.control.local_socket import ControlClient


def private_state(shared: Path, state: Path) -> None:
    """A state dir of its own (selected.json must not land in the shared one) over the shared joined models."""
    (state / "models").mkdir(parents=True)
    for entry in (shared / "models").iterdir():
        if entry.is_dir():
            (state / "models" / entry.name).symlink_to(entry)
        elif entry.name == "verified.json":
            shutil.copy(entry, state / "models" / entry.name)


def daemon_env(shared: Path, tmp_path: Path, **settings: str) -> dict[str, str]:
    """The daemon's environment: state in ``tmp_path/state`` (see :func:`private_state`), runtime in
    ``tmp_path/run``, memory off, and ``settings`` (``APPLIANCE_…`` variables) on top."""
    state = tmp_path / "state"
    private_state(shared, state)
    env = {**os.environ, "APPLIANCE_PATHS_STATE_DIR": str(state), "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "run")}
    env.pop("INVOCATION_ID", None)  # not under systemd: `restart` re-executes the daemon itself
    env.update(APPLIANCE_MEMORY_ENABLED="false", **settings)
    return env


def start_daemon(env: dict[str, str], tmp_path: Path) -> subprocess.Popen:
    """``appliance run`` speaking into ``tmp_path/out.wav``, logging to ``tmp_path/daemon.log``."""
    with open(tmp_path / "daemon.log", "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "appliance", "run", "--output", str(tmp_path / "out.wav")],
            env=env,
            stdout=log,
            stderr=log,
        )


def wait_until_up(daemon: subprocess.Popen, client: ControlClient, log: Path, timeout_s: float = 180.0) -> None:
    """Wait for the daemon's control socket to answer; fail with the log's tail if the daemon exits."""
    deadline = time.monotonic() + timeout_s
    while not client.available():
        assert daemon.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "daemon did not come up"
        time.sleep(0.2)
