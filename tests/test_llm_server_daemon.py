"""`appliance run` as a real process behind a LAN LLM server that misbehaves (issue 26, parts 4 and 7).

The server is scripted in the test process (:class:`~tests.fakes.ScriptedLlmServer`): it is the
thing being simulated.  The daemon, its reply path, Piper, MQTT (a real Mosquitto) and the log are real.

- A server that streams text forever: ``ask`` returns within ``llm.reply_max_s`` and a margin, the
  reply ends at a sentence, the daemon's RSS stays flat, and the next turn is answered.
- A reply carrying ESC, BEL and NUL: none of them reaches MQTT's ``event/reply`` or the retained
  ``state/reply`` or the voice (a NUL used to fail the turn in Piper), and the log at INFO quotes
  nothing of the reply.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from appliance.control.local_socket import ControlClient

from .fakes import ScriptedLlmServer, sse_chunk, sse_reply
from .mqtt_support import DEVICE, ROOT, Probe

pytestmark = [pytest.mark.integration, pytest.mark.mqtt]

REPLY_MAX_S = 6.0
MARGIN_S = 4.0
"""Past the deadline: the sentences already queued for the voice (four at most) are still said."""
RSS_FLAT_MB = 50.0
CONTROL = ("\x1b", "\x07", "\x00")
SENTENCE = "The fox ran over hill number {} and far away. "
"""Numbered: a sentence said twice in a row is said once, and these must all be spoken."""


def stream_forever(script: ScriptedLlmServer, handler: BaseHTTPRequestHandler, sent: list[int]) -> None:
    """Chunks of whole sentences as fast as the connection takes them, never a finish or [DONE]."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.end_headers()
    try:
        handler.wfile.write(sse_chunk().encode())
        number = 0
        while not script.release.is_set():
            number += 1
            piece = sse_chunk(SENTENCE.format(number)).encode()
            handler.wfile.write(piece)
            sent[0] += len(piece)
    except (BrokenPipeError, ConnectionResetError):  # the daemon gave up on it: what should happen
        return


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise AssertionError("no VmRSS")


@pytest.fixture
def llm_server() -> Iterator[ScriptedLlmServer]:
    with ScriptedLlmServer() as server:
        yield server


@pytest.fixture
def daemon(tmp_path: Path, registry, mosquitto, llm_server: ScriptedLlmServer) -> Iterator[subprocess.Popen]:
    state = tmp_path / "state"
    state.mkdir()
    (state / "models").symlink_to(registry.state_dir / "models")
    env = {
        **os.environ,
        "APPLIANCE_LOG_LEVEL": "info",
        "APPLIANCE_PATHS_STATE_DIR": str(state),
        "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "run"),
        "APPLIANCE_DEVICE_ID": DEVICE,
        "APPLIANCE_MQTT_HOST": "127.0.0.1",
        "APPLIANCE_MQTT_PORT": str(mosquitto.port),
        "APPLIANCE_AUDIO_RETRY_S": "1",
        "APPLIANCE_MEMORY_ENABLED": "false",
        "APPLIANCE_LLM_SERVER_URL": llm_server.url,
        "APPLIANCE_LLM_SERVER_TIMEOUT_S": "5",
        "APPLIANCE_LLM_REPLY_MAX_S": str(REPLY_MAX_S),
        "APPLIANCE_LLM_MAX_TOKENS": "512",  # the deadline, not the token budget, is what ends the reply
    }
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - closed with the process
    cmd = [sys.executable, "-m", "appliance", "run", "--output", str(tmp_path / "out.wav")]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    sock = tmp_path / "run" / "control.sock"
    deadline = time.monotonic() + 180
    while not ControlClient(sock).available():
        assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "daemon did not come up"
        time.sleep(0.2)
    try:
        yield proc
    finally:
        llm_server.release.set()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            proc.kill()
            log.close()


def ask(tmp_path: Path, text: str, timeout: float = 120) -> dict:
    return ControlClient(tmp_path / "run" / "control.sock", timeout=timeout).call("ask", {"text": text})


def ask_watching_rss(tmp_path: Path, pid: int, text: str, limit_s: float) -> tuple[dict, float, float]:
    """``ask`` with the daemon's RSS sampled every 0.1 s: the answer (empty if none in time), seconds, peak MB."""
    answer: dict = {}
    started, peak = time.monotonic(), rss_mb(pid)
    asking = threading.Thread(target=lambda: answer.update(ask(tmp_path, text, limit_s)), daemon=True)
    asking.start()
    while asking.is_alive() and time.monotonic() - started < limit_s:
        peak = max(peak, rss_mb(pid))
        asking.join(0.1)
    return answer, time.monotonic() - started, peak


def test_a_server_that_streams_forever_ends_the_turn_at_the_deadline_with_rss_flat(
    tmp_path: Path, daemon: subprocess.Popen, llm_server: ScriptedLlmServer, record_property
):
    whole = sse_reply(SENTENCE.format(0))  # as long as the endless ones: Piper's memory grows with the sentence
    llm_server.respond = lambda h: ScriptedLlmServer.send(h, 200, whole)
    idle = rss_mb(daemon.pid)
    answer, _, ordinary_peak = ask_watching_rss(tmp_path, daemon.pid, "Tell me about the fox.", 120)
    assert (answer["outcome"], answer["reply"]) == ("answered", SENTENCE.format(0).strip())  # an ordinary reply

    sent = [0]
    llm_server.respond = lambda h: stream_forever(llm_server, h, sent)
    answer, elapsed, peak = ask_watching_rss(tmp_path, daemon.pid, "Tell me more.", REPLY_MAX_S + 60)
    after = rss_mb(daemon.pid)
    figures = (
        f"ask {elapsed:.1f} s (llm.reply_max_s = {REPLY_MAX_S:g}); RSS idle {idle:.0f} MB, peak "
        f"{ordinary_peak:.0f} in a one-sentence reply, peak {peak:.0f} in this one, {after:.0f} after; "
        f"the server sent {sent[0] / 1e6:.1f} MB"
    )
    print(figures)
    record_property("forever_server", figures)
    assert answer, f"ask did not return: {figures}"
    assert elapsed < REPLY_MAX_S + MARGIN_S, figures
    assert peak - ordinary_peak < RSS_FLAT_MB and after - idle < RSS_FLAT_MB, figures
    reply = answer["reply"]
    assert answer["outcome"] == "answered" and reply.startswith(SENTENCE.format(1)) and reply.endswith("away.")
    assert "Reply cut at llm.reply_max_s = 6 s" in (tmp_path / "daemon.log").read_text()

    llm_server.respond = lambda h: ScriptedLlmServer.send(h, 200, sse_reply("Fine."))
    then = ask(tmp_path, "And now?")
    assert (then["outcome"], then["reply"]) == ("answered", "Fine.")


def test_control_characters_in_a_reply_reach_neither_mqtt_nor_the_voice_nor_the_log(
    tmp_path: Path, daemon: subprocess.Popen, llm_server: ScriptedLlmServer, mosquitto
):
    said = "Ring\x07ring, the\x1b[31m zebrafish\x00 are ready. Bye\x00 now."
    llm_server.respond = lambda h: ScriptedLlmServer.send(h, 200, sse_reply(said))
    with Probe(mosquitto.port) as ha:
        answer = ask(tmp_path, "What is the code?")
        event = ha.wait_for(f"{ROOT}/event/reply", timeout=30)
        state = ha.wait_for(f"{ROOT}/state/reply", timeout=30)
        attributes = ha.wait_for(f"{ROOT}/state/reply/attributes", timeout=30)
        errors = ha.on(f"{ROOT}/event/error")
    assert answer["outcome"] == "answered" and not errors, errors  # a NUL used to fail the turn (tts-failed)
    texts = {
        "ask": answer["reply"],
        "event/reply": event.json()["text"],
        "state/reply": state.payload.decode(),
        "state/reply/attributes": attributes.json()["text"],
    }
    for where, text in texts.items():
        assert not any(ch in text for ch in CONTROL), (where, text)
        assert "zebrafish are ready." in text and "Bye now." in text, (where, text)
    status = ControlClient(tmp_path / "run" / "control.sock").call("status")
    assert status["last_turn"]["outcome"] == "answered"
    log = (tmp_path / "daemon.log").read_text()
    for word in ("zebrafish", "Ring"):
        assert word not in log, word  # at INFO the reply shows as its length only
    assert "tts-failed" not in log
    assert json.dumps(status, default=str).count("\\u0000") == 0
