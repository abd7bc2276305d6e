"""Skills in the real daemon (`appliance run`, real engines): a timer rings on time, alarms outlive kill -9,
a missed alarm is announced once, lists by voice, and every skill command good and bad over the socket."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from appliance.control.local_socket import ControlClient
from appliance.core.errors import ControlError
from appliance.skills.engine import Skills
from appliance.skills.store import FILENAME, SkillStore

from .test_daemon import start_daemon, stop

pytestmark = pytest.mark.integration
SPOKEN_MISSED = "event reply {'text': 'You missed your"


def wait(predicate, timeout: float = 20.0, what: str = "condition", every: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        time.sleep(every)


def skills_dir(tmp_path: Path, registry) -> Path:
    """A private state dir for skills.db (the joined models are shared, not joined again)."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    if not (state / "models").exists():
        (state / "models").symlink_to(registry.state_dir / "models")
    return state


def daemon(tmp_path: Path, registry):
    state = skills_dir(tmp_path, registry)
    proc, sock, env = start_daemon(
        tmp_path, registry, "--output", str(tmp_path / "out.wav"), state_dir=state, log_level="debug"
    )
    return proc, ControlClient(sock, timeout=60), env


def test_a_timer_rings_at_its_due_time_and_stop_silences_it(tmp_path, registry):
    proc, client, _ = daemon(tmp_path, registry)
    try:
        answer = client.call("ask", {"text": "Set a pasta timer for three seconds.", "speak": False})
        assert answer["intent"] == "timer.start", answer
        [timer] = client.call("timers.list")["timers"]
        assert timer["kind"] == "timer" and timer["name"] == "pasta" and 2.0 < timer["remaining_s"] <= 3.0
        ringing = wait(lambda: client.call("status")["skills"]["ringing"] and time.time(), what="ringing")
        assert ringing - timer["due"] < 0.6  # polled every 20 ms over the socket; the bench measures the samples
        assert client.call("status")["stage"] == "speaking"
        assert client.call("stop") == {"interrupted": True}
        wait(lambda: client.call("status")["skills"]["ringing"] == 0, what="silenced")
        assert client.call("timers.list")["timers"] == []  # a finished timer is gone
    finally:
        assert stop(proc) == 0


def test_alarms_survive_kill_9_and_a_missed_one_is_announced_once(tmp_path, registry):
    state = skills_dir(tmp_path, registry)
    proc, client, _ = daemon(tmp_path, registry)
    try:
        set_ = client.call("alarm.set", {"time": time.strftime("%H:%M", time.localtime(time.time() + 7200))})
        assert set_["alarm"]["kind"] == "alarm"
        listed = client.call("ask", {"text": "Add eggs and butter to the shopping list.", "speak": False})
        assert listed["intent"].startswith("list.")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # While the daemon is down, an alarm falls due an hour ago (written as an hour-old daemon would have).
    past = Skills(SkillStore(state / FILENAME), tz=None, now=lambda: time.time() - 3600)  # type: ignore[arg-type]
    past.open().alarm_set(time.time() - 3500, label="dentist")
    past.close()
    log = tmp_path / "daemon.log"
    proc, client, _ = daemon(tmp_path, registry)
    try:
        kinds = wait(lambda: [t["kind"] for t in client.call("timers.list")["timers"]], what="timers loaded")
        assert kinds == ["alarm"]  # the 2-hours-ahead alarm is back; the missed one-off is settled
        assert client.call("list.show", {"list": "shopping"})["items"] == ["eggs", "butter"]
        wait(lambda: SPOKEN_MISSED in log.read_text(), what="missed alarm announced")
    finally:
        assert stop(proc) == 0
    assert log.read_text().count(SPOKEN_MISSED) == 1
    proc, client, _ = daemon(tmp_path, registry)  # each start writes a new daemon.log
    try:
        wait(lambda: client.call("status")["skills"]["missed_checked"], what="missed alarms checked")
    finally:
        assert stop(proc) == 0
    assert SPOKEN_MISSED not in log.read_text()  # announced once, not at every start


@pytest.mark.parametrize(
    ("name", "args", "code"),
    [
        ("timer.start", {"duration_s": -5}, "bad-arguments"),
        ("timer.start", {"duration_s": "²"}, "bad-arguments"),
        ("timer.start", {"duration_s": 400 * 86400}, "bad-arguments"),
        ("timer.start", {"duration_s": 60, "name": "x" * 500}, "too-long"),
        ("timer.cancel", {"id": "seven"}, "bad-arguments"),
        ("alarm.set", {"time": "25:99"}, "bad-arguments"),
        ("alarm.set", {"time": 4e12}, "bad-arguments"),
        ("reminder.set", {"text": ""}, "bad-arguments"),
        ("list.add", {"list": "shopping", "items": [5]}, "bad-arguments"),
        ("list.add", {"list": "shopping", "items": ["x"] * 500}, "too-long"),
        ("list.add", {"list": "garage", "items": ["x"]}, "bad-arguments"),
        ("list.show", {"list": 5}, "bad-arguments"),
    ],
)
def test_bad_skill_commands_get_coded_errors(name, args, code, skill_daemon):
    client = skill_daemon
    with pytest.raises(ControlError) as info:
        client.call(name, args)
    assert info.value.code == code, info.value.message


def test_good_skill_commands_over_the_socket(skill_daemon):
    client = skill_daemon
    started = client.call("timer.start", {"duration_s": 600, "name": "eggs"})
    assert started["timer"]["name"] == "eggs"
    assert client.call("timer.pause", {"name": "eggs"})["timer"]["state"] == "paused"
    assert client.call("timer.resume", {"name": "eggs"})["timer"]["state"] == "running"
    added = client.call("timer.add", {"name": "eggs", "seconds": 60})["timer"]
    assert 655 < added["remaining_s"] <= 660
    reminder = client.call("reminder.set", {"text": "take the bins out", "in_s": 3600})["reminder"]
    assert reminder["text"] == "take the bins out"
    assert {t["kind"] for t in client.call("timers.list")["timers"]} == {"timer", "reminder"}
    assert client.call("list.add", {"list": "todo", "items": ["call mum"]})["items"] == ["call mum"]
    assert client.call("list.remove", {"list": "todo", "items": ["call mum"]})["items"] == []
    assert len(client.call("timer.cancel", {"all": True, "kind": "any"})["cancelled"]) >= 2
    assert client.call("timers.list")["timers"] == []
    text = json.dumps(client.call("status")["skills"])
    assert '"timers": 0' in text


@pytest.fixture(scope="module")
def skill_daemon(tmp_path_factory, registry):
    tmp_path = tmp_path_factory.mktemp("skills")
    proc, client, _ = daemon(tmp_path, registry)
    yield client
    assert stop(proc) == 0
