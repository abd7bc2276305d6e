"""The state directory full (ENOSPC on a tiny tmpfs): the appliance starts and a spoken question is answered.

Needs root (mount); skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import conversation
from .fakes import until
from .mqtt_support import Probe, mqtt_settings, running

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]


@contextlib.contextmanager
def full_tmpfs(path: Path, size: str = "1m"):
    """A tmpfs at ``path`` filled to ENOSPC; unmounted afterwards."""
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        (path / "run").mkdir()
        fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
async def test_a_full_state_disk_still_answers_a_spoken_question(tmp_path, mosquitto, engines, registry, speak):
    with full_tmpfs(tmp_path / "state") as state:
        settings = mqtt_settings(state, mosquitto.port)
        audio, _, _ = conversation(speak, speak("What is two plus two?"))
        with Probe(mosquitto.port) as ha:
            async with running(settings, engines, registry, samples=audio) as app:
                await until(lambda: app.mqtt is not None and app.mqtt.connected, timeout=30, what="connected")
                await until(lambda: len(app.pipeline.history) >= 1, timeout=120, what="a turn")
                turn = app.pipeline.history[-1]
                assert turn.outcome == "answered" and turn.reply, turn
                assert (await ha.ask("status", timeout=30))["ok"]
                status = app.status()
                assert "disk is full" in status["mqtt"]["outbox_unavailable"]  # in memory only, file left alone
                (state / "filler").unlink()  # space freed: the outbox takes its file again
                assert await app.mqtt.retry_outbox()  # type: ignore[union-attr]
                assert app.status()["mqtt"]["outbox_unavailable"] is None
                print(f"disk full: turn {turn.outcome!r}, memory {status.get('memory')}, mqtt {status['mqtt']}")
