"""``appliance bench --only skills``: a skill turn's latency (no LLM), timer accuracy, and phrasing accuracy.

- Skill turns: Piper-made "Hey Jarvis. <request>" recordings fed in real time to a
  fresh in-process appliance; end of speech → first reply audio, and how much of it
  is more than the endpoint delay (the target: ≤ 0.15 s on top of it).
- Timers: timers of 1–2 s started over the command layer; from each one's due time to
  the first sample of its chime leaving the (real-time paced) sink.
- Phrasings: the labelled set kept apart from the parser tables (``evaluate``).

Everything runs in a throw-away state directory: no timer or list of the household's changes.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.audio.sink import NullSink
from appliance.bench.harness import conversation_audio, percentile, run_latency

if TYPE_CHECKING:
    from appliance.engines.loader import Engines
    from appliance.models.registry import ModelRegistry
    from appliance.settings import Settings

SKILL_REQUESTS = (
    "What time is it?",
    "Set a timer for ten minutes.",
    "What is seven times eight?",
    "What day is it today?",
    "Add milk to the shopping list.",
    "How many days until Christmas?",
    "Convert three inches to centimetres.",
    "Cancel all timers.",
)


class StampingSink(NullSink):
    """A real-time sink that notes when the first non-silent sample of each sound goes out."""

    def __init__(self) -> None:
        super().__init__(realtime=True)
        self.sounding: list[float] = []
        self._quiet = True

    def _emit(self, samples: np.ndarray) -> None:
        loud = bool(np.any(np.abs(samples) > 64))
        if loud and self._quiet:
            self.sounding.append(time.monotonic())
        self._quiet = not loud and self._quiet

    def stop(self) -> None:
        super().stop()
        self._quiet = True


def private_settings(settings: Settings) -> Settings:
    """The same settings on a temporary state dir that shares the joined models."""
    state = Path(tempfile.mkdtemp(prefix="bench-skills-"))
    (state / "models").symlink_to(settings.state_dir / "models")
    return replace(settings, paths=replace(settings.paths, state_dir=str(state), runtime_dir=str(state / "run")))


async def skill_turns(settings: Settings, engines: Engines, registry: ModelRegistry, log: Callable[[str], None]) -> Any:
    recordings = [(text, conversation_audio(engines.tts, text)) for text in SKILL_REQUESTS]
    rows, _ = await run_latency(private_settings(settings), engines, registry, recordings, "skills")

    def values(key: str) -> list[float]:
        return [r["timings"][key] for r in rows if r["timings"].get(key) is not None]

    over = [
        r["timings"]["end_of_speech_to_first_audio_s"] - r["timings"]["endpoint_delay_s"]
        for r in rows
        if r["timings"].get("end_of_speech_to_first_audio_s") is not None and r["timings"].get("endpoint_delay_s")
    ]
    return {
        "runs": len(rows),
        "answered_without_llm": sum(r["outcome"] == "answered" and r.get("intent") is not None for r in rows),
        "end_of_speech_to_first_audio_s": {"p50": percentile(values("end_of_speech_to_first_audio_s"), 0.5)},
        "endpoint_delay_s": {"p50": percentile(values("endpoint_delay_s"), 0.5)},
        "beyond_endpoint_s": {"p50": percentile(over, 0.5), "max": round(max(over), 4) if over else None},
        "per_request": [{k: r.get(k) for k in ("request", "transcript", "intent", "reply", "timings")} for r in rows],
    }


async def timer_accuracy(
    settings: Settings, engines: Engines, registry: ModelRegistry, log: Callable[[str], None], rounds: int = 20
) -> dict[str, Any]:
    """Due → first chime sample out of the sink, over ``rounds`` timers of 1–2 s."""
    from appliance.runtime.inprocess import running

    settings = private_settings(settings)
    settings = replace(settings, mqtt=replace(settings.mqtt, host=""), vision=replace(settings.vision, enabled=False))
    sink = StampingSink()
    late: list[float] = []
    async with running(settings, engines, registry, sink) as app:
        offset = time.time() - time.monotonic()
        for i in range(rounds):
            before = len(sink.sounding)
            started = await app.commands.execute("timer.start", {"duration_s": 1.0 + (i % 5) * 0.25})
            due_mono = started["timer"]["due"] - offset
            deadline = time.monotonic() + 10
            while len(sink.sounding) == before and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if len(sink.sounding) > before:
                late.append(sink.sounding[before] - due_mono)
            await app.controller.stop()
            await app.pipeline.idle(timeout=10)
            shown = f"{late[-1] * 1000:.0f} ms after due" if late else "did not ring"
            log(f"timer {i + 1}/{rounds}: first chime sample {shown}")
    ms = [round(x * 1000, 1) for x in late]
    return {
        "rounds": rounds,
        "rang": len(late),
        "due_to_first_sample_ms": {
            "p50": percentile(ms, 0.5),
            "p99": percentile(ms, 0.99),
            "max": max(ms, default=None),
            "min": min(ms, default=None),
        },
    }


async def measure_skills(
    settings: Settings, engines: Engines, registry: ModelRegistry, log: Callable[[str], None]
) -> dict[str, Any]:
    from appliance.skills.evaluate import DEFAULT_SET, HELD_OUT_SET, evaluate

    log("skills: labelled phrasings")
    out: dict[str, Any] = {"phrasings": {}}
    for label, path in (("labelled", DEFAULT_SET), ("held_out", HELD_OUT_SET)):
        report = evaluate(path)
        out["phrasings"][label] = {
            "accuracy": round(report.accuracy, 4),
            "total": report.total,
            "failures": [f"{case.text!r}: wanted {case.intent}, got {got}" for case, got in report.failures][:20],
        }
    log("skills: spoken skill turns (no LLM)")
    out["turns"] = await skill_turns(settings, engines, registry, log)
    log("skills: timer accuracy")
    out["timers"] = await timer_accuracy(settings, engines, registry, log)
    return out
