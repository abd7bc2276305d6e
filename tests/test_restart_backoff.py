"""Growing waits between failed runs, and the count that resets (pure, plus the helper as systemd runs it)."""

from __future__ import annotations

import json
import stat

from appliance.runtime.restart_backoff import (
    HEALTHY_AFTER_S,
    MAX_GAP_S,
    RESTART_SEC,
    after_stop,
    extra_delay,
    main,
)


def test_the_wait_grows_and_is_capped():
    gaps = [extra_delay(n) + RESTART_SEC for n in range(1, 12)]
    assert extra_delay(0) == 0 and extra_delay(1) == 0
    assert gaps == sorted(gaps) and gaps[:5] == [5, 10, 20, 40, 80] and max(gaps) == MAX_GAP_S


def test_failures_count_up_and_reset():
    state = {"failures": 3, "started": 1000.0}
    assert after_stop(state, result="exit-code", exit_status="1", now=1010.0)["failures"] == 4
    assert after_stop(state, result="watchdog", exit_status="6", now=1010.0)["failures"] == 4
    assert after_stop(state, result="success", exit_status="0", now=1010.0)["failures"] == 0
    assert after_stop(state, result="exit-code", exit_status="75", now=1010.0)["failures"] == 0  # `restart`
    long_run = after_stop(state, result="exit-code", exit_status="1", now=1000.0 + HEALTHY_AFTER_S + 1)
    assert long_run["failures"] == 1  # a new problem after a healthy run


def test_the_helper_as_systemd_runs_it(tmp_path):
    env = {"STATE_DIRECTORY": str(tmp_path)}
    slept: list[float] = []
    for _ in range(3):
        assert main(["wait"], env, sleep=slept.append) == 0
        assert main(["stopped"], {**env, "SERVICE_RESULT": "exit-code", "EXIT_STATUS": "1"}) == 0
    assert main(["wait"], env, sleep=slept.append) == 0
    assert slept == [5.0, 15.0]  # after the 2nd and 3rd failure in a row
    path = tmp_path / "restart-backoff.json"
    assert json.loads(path.read_text())["failures"] == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("{not json")  # a damaged file is a fresh count, never a crash
    assert main(["wait"], env, sleep=slept.append) == 0
    assert main(["wait"], {"STATE_DIRECTORY": str(tmp_path / "gone")}, sleep=slept.append) == 0
    assert main([], env) == 2
