"""``appliance bench --only rss``: peak resident memory of ``appliance run`` with every default model."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.audio import SAMPLE_RATE
from appliance.audio.wav import write_wav
from appliance.bench.harness import conversation_audio
from appliance.bench.latency import REQUESTS
from appliance.core.procstat import memory_mb
from appliance.runtime.app import Engines
from appliance.settings import Settings

ANSWER_TIMEOUT_S = 180


def measure_rss(settings: Settings, engines: Engines) -> dict[str, Any]:
    """Peak RSS of a real ``appliance run`` daemon answering one conversation."""
    work = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    wav = work / "conversation.wav"
    write_wav(wav, conversation_audio(engines.tts, REQUESTS[0]), SAMPLE_RATE)
    env = {**os.environ, "APPLIANCE_PATHS_STATE_DIR": str(settings.state_dir), "APPLIANCE_PATHS_RUNTIME_DIR": str(work)}
    cmd = [sys.executable, "-m", "appliance", "run", "--input", str(wav), "--output", str(work / "reply.wav")]
    proc = subprocess.Popen([*cmd, "--no-control"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        peak_mb, answered = _watch(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"peak_mb": peak_mb, "answered": answered}


def _watch(proc: subprocess.Popen[str]) -> tuple[float, bool]:
    """(Peak RSS in MB, whether the turn was answered), read as the daemon logs until its turn ends."""
    peak_mb, answered = 0.0, False
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    assert proc.stderr is not None
    for line in proc.stderr:
        peak_mb = max(peak_mb, memory_mb(proc.pid))
        if "event turn" in line:
            answered = "answered" in line
            break
        if time.monotonic() > deadline:
            break
    time.sleep(1.0)
    return max(peak_mb, memory_mb(proc.pid)), answered
