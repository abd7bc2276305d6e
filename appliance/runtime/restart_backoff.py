"""Growing waits between automatic restarts, on every systemd (RestartSteps= needs 254; boards run 249-252).

The unit runs ``python -m appliance.runtime.restart_backoff wait`` before each start
and ``… stopped`` after each stop. A start after a run that failed waits
longer each time (on top of ``RestartSec=``): 0, 5, 15, 35, 75 s, then 115 s
at most, so a crash loop (a full disk, a dead device) costs little CPU and
never ends in a permanent lock-out (the unit sets ``StartLimitIntervalSec=0``).
A run that lasted ``HEALTHY_AFTER_S``, a clean stop, or a requested restart
(exit 75) starts the count again. Both steps are prefixed with ``-`` in the
unit and never raise: a helper that fails must not keep the daemon down.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

STATE_FILE = "restart-backoff.json"
RESTART_SEC = 5.0
"""The unit's RestartSec=, already waited by systemd."""
MAX_GAP_S = 120.0
"""Longest time between two attempts (RestartSec= included), well inside TimeoutStartSec=180s."""
HEALTHY_AFTER_S = 600.0
"""A run this long resets the count: the next failure is a new problem."""
REQUESTED_EXITS = frozenset({"75"})
"""Exit statuses that ask for a restart (the ``restart`` command): not failures."""


def extra_delay(failures: int) -> float:
    """Seconds to wait before a start that follows ``failures`` failed runs in a row."""
    if failures <= 0:
        return 0.0
    gap = min(MAX_GAP_S, RESTART_SEC * (2 ** min(failures - 1, 16)))
    return max(0.0, gap - RESTART_SEC)


def after_stop(state: dict[str, Any], *, result: str, exit_status: str, now: float) -> dict[str, Any]:
    """The count after a stop: ``result`` is systemd's $SERVICE_RESULT, ``exit_status`` its $EXIT_STATUS."""
    started = state.get("started")
    ran = now - started if isinstance(started, (int, float)) else 0.0
    failures = int(state.get("failures", 0)) if ran < HEALTHY_AFTER_S else 0
    if result == "success" or exit_status in REQUESTED_EXITS:
        failures = 0
    else:
        failures += 1
    return {"failures": failures, "started": None}


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle)
    os.replace(tmp, path)


def main(argv: list[str], env: dict[str, str] | None = None, sleep: Any = time.sleep) -> int:
    """``wait`` (ExecStartPre) or ``stopped`` (ExecStopPost); always exits 0 once the arguments are right."""
    env = dict(os.environ) if env is None else env
    if len(argv) != 1 or argv[0] not in ("wait", "stopped"):
        print("usage: python -m appliance.runtime.restart_backoff wait|stopped", file=sys.stderr)
        return 2
    directory = env.get("STATE_DIRECTORY", "").split(":")[0]
    if not directory:
        return 0
    path = Path(directory) / STATE_FILE
    state = _load(path)
    try:
        if argv[0] == "wait":
            delay = extra_delay(int(state.get("failures", 0)))
            if delay:
                print(f"restart_backoff: {state.get('failures')} failed runs in a row; waiting {delay:.0f} s")
                sleep(delay)
            _save(path, {**state, "started": time.time()})
        else:
            result, status = env.get("SERVICE_RESULT", "success"), env.get("EXIT_STATUS", "")
            _save(path, after_stop(state, result=result, exit_status=status, now=time.time()))
    except (OSError, ValueError, TypeError) as err:  # a full disk, a bad file: never keep the daemon down
        print(f"restart_backoff: {err}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
