"""What the benchmarks share: their log line, percentiles, Piper speech and "Hey Jarvis" conversations,
the process's CPU while it listens to a quiet room, and conversations fed in real time through an
in-process appliance.

Every benchmark imports from here and nothing here imports a benchmark, so ``appliance/bench`` has
no import loop.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.buffer import resample
from appliance.audio.sink import NullSink
from appliance.audio.source import ArraySource
from appliance.cli.converse import TIMING_KEYS, ConverseResult, converse
from appliance.engines.tts import PiperTts
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Appliance, Engines
from appliance.runtime.daemon import make_conversation_audio
from appliance.settings import Settings

WAKE_PHRASE = "Hey Jarvis."
"""What every benchmark says before a request."""

Recording = tuple[str, np.ndarray]
"""(The request's text, "Hey Jarvis" and the request as a microphone hears them at 16 kHz)."""


def log(message: str) -> None:
    """One progress line on stderr (stdout carries the JSON report)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) by linear interpolation between the nearest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 4)


def percentiles(values: Sequence[float | None]) -> dict[str, Any]:
    """p50, p95 and how many values there were, leaving out the missing ones."""
    kept = [v for v in values if v is not None]
    return {"p50": percentile(kept, 0.5), "p95": percentile(kept, 0.95), "n": len(kept)}


def speak(tts: PiperTts, text: str) -> np.ndarray:
    """``text`` in the Piper voice, as 16 kHz int16."""
    return resample(tts.synthesize_all(text), tts.sample_rate, SAMPLE_RATE)


def conversation_audio(tts: PiperTts, request: str) -> np.ndarray:
    """Silence, "Hey Jarvis.", a short pause, ``request``, silence: one conversation as a microphone hears it."""
    return make_conversation_audio(tts, WAKE_PHRASE, request)


def cpu_seconds() -> float:
    """User and system CPU seconds this process has used so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure_idle(settings: Settings, engines: Engines, registry: ModelRegistry, seconds: float) -> float:
    """Percent of one core used by this whole process while listening to a quiet room."""
    rng = np.random.default_rng(7)
    room = (rng.standard_normal(int((seconds + 3) * SAMPLE_RATE)) * 6).astype(np.int16)  # about -75 dBFS
    source = ArraySource(room, realtime=True, tail_s=None)
    app = Appliance(settings, engines, registry=registry, source_factory=lambda: source, sink=NullSink(), control=False)
    runner = asyncio.create_task(app.run())
    await asyncio.sleep(2.0)  # settle: first frames, thread start-up
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, wall1 = cpu_seconds(), time.monotonic()
    app.stop()
    await runner
    return round(100.0 * (cpu1 - cpu0) / (wall1 - wall0), 2)


async def run_latency(
    settings: Settings,
    engines: Engines,
    registry: ModelRegistry,
    recordings: list[Recording],
    label: str,
    *,
    hold_chars: int = 0,
) -> tuple[list[dict[str, Any]], list[ConverseResult]]:
    """Each recording fed in real time to a fresh in-process appliance: one row per request, and the raw results."""
    rows, raw = [], []
    for i, (request, audio) in enumerate(recordings, 1):
        out = Path(tempfile.mkdtemp(prefix="bench-")) / "reply.wav"

        def configure(app: Appliance) -> None:
            app.pipeline.hold_chars = hold_chars

        result = await converse(
            settings, engines, registry, audio, realtime=True, pace_output=False, out=out, configure=configure
        )
        row = _latency_row(request, result)
        rows.append(row)
        value = row["timings"].get("end_of_speech_to_first_audio_s")
        log(f"{label} {i}/{len(recordings)}: {row['outcome']}, end of speech -> first audio {value} s")
        raw.append(result)
    return rows, raw


def _latency_row(request: str, result: ConverseResult) -> dict[str, Any]:
    data = result.as_dict()
    turn: dict[str, Any] = (
        data["turns"][0] if data["turns"] else {"outcome": "no-wake", "timings": {}, "transcript": ""}
    )
    return {
        "request": request,
        "outcome": turn["outcome"],
        "transcript": turn["transcript"],
        "reply": turn.get("reply", ""),
        "intent": turn.get("intent"),
        "timings": turn["timings"],
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs, answers, and p50/p95 of every stage's timing over :func:`run_latency`'s rows."""
    out: dict[str, Any] = {"runs": len(rows), "answered": sum(r["outcome"] == "answered" for r in rows)}
    for key in TIMING_KEYS:
        values = [r["timings"][key] for r in rows if r["timings"].get(key) is not None]
        out[key] = {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "n": len(values)}
    return out
