"""`appliance run` as a process: headless start, control socket, commands, clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.audio import SAMPLE_RATE
from appliance.audio.wav import read_wav, write_wav
from appliance.control.local_socket import ControlClient

from .conftest import conversation

pytestmark = pytest.mark.integration


def start_daemon(
    tmp_path: Path, registry, *extra: str, state_dir: Path | None = None, log_level: str = "info"
) -> tuple[subprocess.Popen, Path, dict]:
    runtime = tmp_path / "run"
    env = {
        **os.environ,
        "APPLIANCE_LOG_LEVEL": log_level,
        "APPLIANCE_PATHS_STATE_DIR": str(state_dir or registry.state_dir),
        "APPLIANCE_PATHS_RUNTIME_DIR": str(runtime),
        "APPLIANCE_AUDIO_RETRY_S": "1",
    }
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "appliance", "run", *extra], env=env, stderr=log, stdout=log)
    sock = runtime / "control.sock"
    deadline = time.monotonic() + 120
    while not ControlClient(sock).available():
        assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "daemon did not come up"
        time.sleep(0.2)
    return proc, sock, env


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args], env=env, capture_output=True, text=True, timeout=120
    )


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_headless_daemon_answers_over_the_socket(tmp_path, registry):
    """No microphone on this machine: the daemon stays up, says so, and still answers."""
    proc, sock, env = start_daemon(tmp_path, registry, "--output", str(tmp_path / "out.wav"))
    try:
        status = json.loads(cli(env, "status", "--json").stdout)
        assert status["capture"]["available"] is False
        assert status["stage"] == "idle"
        assert "hey_jarvis" in status["wake_words"]
        human = cli(env, "status")
        assert "UNAVAILABLE" in human.stdout
        client = ControlClient(sock, timeout=120)
        reply = client.call("ask", {"text": "What is the capital of France?"})
        assert reply["outcome"] == "answered" and reply["reply"]
        assert client.call("volume", {"level": 35}) == {"volume": 35}
        assert cli(env, "mute", "on").returncode == 0
        assert json.loads(cli(env, "status", "--json").stdout)["muted"] is True
        bad = cli(env, "volume", "300")
        assert bad.returncode == 1 and "bad-arguments" in bad.stderr
    finally:
        code = stop(proc)
    assert code == 0
    assert not sock.exists()
    log = (tmp_path / "daemon.log").read_text()
    assert "No capture" in log or "cannot open capture" in log
    assert len(read_wav(tmp_path / "out.wav", rate=22050)) > 0


def test_daemon_hears_a_wav_input(tmp_path, registry, speak):
    audio, _, _ = conversation(speak, speak("What is the capital of France?"))
    wav = tmp_path / "in.wav"
    write_wav(wav, audio, SAMPLE_RATE)
    proc, sock, _env = start_daemon(tmp_path, registry, "--input", str(wav), "--output", str(tmp_path / "o.wav"))
    try:
        deadline = time.monotonic() + 60
        status: dict = {}
        while time.monotonic() < deadline:
            status = ControlClient(sock).call("status")
            if status["turns"] and status["stage"] == "idle":
                break
            time.sleep(0.3)
        assert status["last_turn"]["outcome"] == "answered", status
        assert "capital" in status["last_turn"]["transcript"].lower()
    finally:
        assert stop(proc) == 0


def test_cli_without_daemon_says_how_to_start_it(tmp_path):
    env = {**os.environ, "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path)}
    proc = cli(env, "status")
    assert proc.returncode == 1
    assert "appliance run" in proc.stderr


def test_local_ask_takes_the_daemons_turn_path(tmp_path, registry):
    """Without a daemon, `appliance ask` runs the same turn: memory intents store and recall."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "models").symlink_to(registry.state_dir / "models")  # the joined Whisper model, not joined again
    env = {**os.environ, "APPLIANCE_PATHS_STATE_DIR": str(state), "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "run")}
    told = cli(env, "ask", "Remember that the spare key for the shed is under the blue flowerpot.", "--json")
    assert told.returncode == 0, told.stderr[-2000:]
    assert json.loads(told.stdout)["intent"] == "memory.remember"
    assert (state / "memory.db").exists()
    asked = cli(env, "ask", "What did I tell you about the spare key?", "--json")
    assert asked.returncode == 0, asked.stderr[-2000:]
    answer = json.loads(asked.stdout)
    assert answer["intent"] == "memory.recall" and "blue flowerpot" in answer["reply"]
