"""`appliance run` as a real process on a real broker: retained offline on a clean stop, the last will on kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .mqtt_support import DEVICE, ROOT, Probe

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]


def daemon_env(tmp_path: Path, registry, port: int) -> dict[str, str]:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    if not (state / "models").exists():  # share the joined models, keep this daemon's outbox to itself
        (state / "models").symlink_to(registry.state_dir / "models")
    return {
        **os.environ,
        "APPLIANCE_PATHS_STATE_DIR": str(state),
        "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "run"),
        "APPLIANCE_DEVICE_ID": DEVICE,
        "APPLIANCE_MQTT_HOST": "127.0.0.1",
        "APPLIANCE_MQTT_PORT": str(port),
        "APPLIANCE_MQTT_KEEPALIVE_S": "5",
        "APPLIANCE_AUDIO_RETRY_S": "1",
    }


def start(tmp_path: Path, env: dict[str, str], name: str) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    cmd = [sys.executable, "-m", "appliance", "run", "--output", str(tmp_path / f"{name}.wav")]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=log)


def test_offline_on_clean_stop_and_last_will_on_kill_9(tmp_path, mosquitto, registry):
    env = daemon_env(tmp_path, registry, mosquitto.port)
    availability = f"{ROOT}/availability"
    with Probe(mosquitto.port) as ha:
        first = start(tmp_path, env, "first")
        try:
            ha.wait_for(availability, lambda m: m.payload == b"online", timeout=180)
            mark = ha.mark()
            first.send_signal(signal.SIGTERM)
            assert first.wait(60) == 0
            ha.wait_for(availability, lambda m: m.payload == b"offline", timeout=10, after=mark)
        finally:
            first.kill()
        assert "disconnected." in mosquitto.log()  # a clean DISCONNECT: the offline was ours, not the will

        mark = ha.mark()
        second = start(tmp_path, env, "second")
        try:
            ha.wait_for(availability, lambda m: m.payload == b"online", timeout=180, after=mark)
            mark, killed = ha.mark(), time.monotonic()
            second.send_signal(signal.SIGKILL)
            second.wait(30)
            offline = ha.wait_for(availability, lambda m: m.payload == b"offline", timeout=10, after=mark)
            assert offline.at - killed < 7.5  # at worst 1.5 x keepalive; the closed socket makes it immediate
        finally:
            second.kill()
        assert f"Client appliance-{DEVICE} closed its connection." in mosquitto.log()  # no DISCONNECT: the will
    with Probe(mosquitto.port) as late:  # retained: whoever looks later sees it is gone
        assert late.wait_for(availability).payload == b"offline"
