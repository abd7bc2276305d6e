"""``appliance bench --only echo``: barge-in in a simulated room, the appliance's own voice fed back.

A real in-process appliance (real wake word, VAD, Whisper, Piper, echo canceller) listens to a
:class:`~appliance.audio.room.LoopbackRoom`: whatever its sink plays comes back into its microphone
through a generated room response (a direct path after 30 ms, then decaying noise) at 0, +6 or +12 dB
over the user's speech (-30 dBFS).  Each trial asks a question that draws a long reply; 1.5 s into the
reply the user says "Hey Jarvis" and a request (Piper, or a phrase of a real recording).  The replies
come from a scripted text generator: the LLM is not what is measured, its voice is.  Each session
starts with one question answered in full, so the canceller has adapted as on a device after its first
reply.  Self-wakes are counted over ten minutes of the appliance's own speech on a simulated clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.echo import EchoCanceller
from appliance.audio.room import LoopbackRoom, dbfs, room_response
from appliance.audio.sink import NullSink
from appliance.bench.echo_trials import (
    GAP_S,
    LONG_REPLY,
    SPEECH_DBFS,
    ScriptedReplies,
    Trial,
    make_trials,
    word_error_rate,
)
from appliance.bench.harness import log, measure_idle
from appliance.bench.self_wake import self_wakes
from appliance.core.events import Stage
from appliance.engines.loader import Engines
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Appliance
from appliance.settings import Settings
from appliance.voice.turn_record import TurnRecord

_LOGGER = logging.getLogger(__name__)
BARGE_AFTER_S = 1.5
"""Seconds into the long reply the user barges in."""


async def _until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return False


async def run_session(
    settings: Settings,
    engines: Engines,
    registry: ModelRegistry,
    trials: list[Trial],
    *,
    echo_db: float | None,
    barge: bool = True,
    drr_db: float = 6.0,
    decay_s: float = 0.05,
) -> dict[str, Any]:
    """One appliance, one room, the trials in turn; what was heard, and the canceller's cost."""
    room = _room(engines, len(trials), echo_db, drr_db, decay_s)
    sink = NullSink(realtime=True, volume=settings.audio.volume)
    app = Appliance(settings, engines, registry=registry, source_factory=lambda: room, sink=sink, control=False)
    sink.on_played.append(room.played)  # after the canceller's own tap: the room hears what it is told
    records: list[TurnRecord] = []
    app.pipeline.on_turn_finished.append(records.append)
    canceller, cost = app.frontend.echo, {"cpu_s": 0.0, "frames": 0}
    cleaned = _measure_into(canceller, cost, room) if canceller is not None else None
    runner = asyncio.create_task(app.run())
    await _until(lambda: room.pos > 0, 20.0)
    rows: list[dict[str, Any]] = []
    spoken: list[tuple[float, float]] = []
    warm = Trial(trials[0].question, trials[0].barge, "")
    for i, trial in enumerate([warm, *trials]):
        row = await _ask(app, room, records, spoken, trial, barge=barge and i > 0)
        await app.pipeline.idle(timeout=60.0)
        await _until(lambda: sink.queued_seconds() == 0.0, 30.0)
        await asyncio.sleep(1.0)
        if i:
            row["wer"] = round(word_error_rate(trial.reference, row["transcript"]), 3) if trial.reference else None
            rows.append(row)
            log(f"  {row}")
    app.stop()
    await runner
    audio_s = room.pos / SAMPLE_RATE
    erle = erle_of(room, cleaned) if cleaned is not None and echo_db is not None else None
    cpu = {
        "aec_percent_of_one_core": round(100 * cost["cpu_s"] / audio_s, 2),
        "while_active_percent": round(100 * cost["cpu_s"] / max(_active_s(canceller), 1e-9), 2) if canceller else None,
    }
    unprompted = _unprompted_wakes(records, spoken)
    return {"trials": rows, "self_wakes": unprompted, "audio_s": round(audio_s, 1), "erle_db": erle, "cpu": cpu}


def _room(engines: Engines, trials: int, echo_db: float | None, drr_db: float, decay_s: float) -> LoopbackRoom:
    """A room long enough for ``trials``, its echo ``echo_db`` over the user's speech (None: no echo)."""
    rir = room_response(1, drr_db=drr_db, decay_s=decay_s)
    reply_level = dbfs((engines.tts.synthesize_all(LONG_REPLY) * 0.64).astype(np.int16))
    gain = 0.0 if echo_db is None else 10 ** ((SPEECH_DBFS + echo_db - reply_level) / 20)
    return LoopbackRoom(40.0 + 30.0 * trials, rir, echo_gain=gain)


async def _ask(
    app: Appliance,
    room: LoopbackRoom,
    records: list[TurnRecord],
    spoken: list[tuple[float, float]],
    trial: Trial,
    *,
    barge: bool,
) -> dict[str, Any]:
    """Say the trial's question and, with ``barge``, its barge-in into the reply; what was heard of the request.

    Without ``barge`` (the warm-up question, or a request in silence) the question is answered in full.
    """
    start = room.pos / SAMPLE_RATE + 0.5
    end = start + len(trial.question) / SAMPLE_RATE
    room.say(trial.question, start)
    spoken.append((start, end))
    if barge:
        await _until(_started(app, start), 30.0)  # this question's turn, not the stage the last one left
        await _until(lambda: app.pipeline.stage == Stage.SPEAKING, 30.0)
        start = room.at_s(time.monotonic()) + BARGE_AFTER_S
        room.say(trial.barge, start)
        end = start + len(trial.barge) / SAMPLE_RATE
        spoken.append((start, end))
        heard = await _until(_transcribed(records, start, end), end - start + 20.0)
    else:
        heard = await _until(_transcribed(records, start, end), 30.0)
    found = next((r for r in records if _within(r, start, end)), None)
    return {"reference": trial.reference, "detected": heard, "transcript": found.transcript if found else ""}


def _unprompted_wakes(records: list[TurnRecord], spoken: list[tuple[float, float]]) -> int:
    """Wakes heard while the user said nothing: the appliance woke to its own voice."""
    for r in records:
        _LOGGER.debug(
            "turn %s wake %s end %s outcome %s: %r", r.turn_id, r.wake_at_s, r.speech_end_s, r.outcome, r.transcript
        )
    _LOGGER.debug("spoken %s", spoken)
    wakes = [r.wake_at_s for r in records if r.wake_at_s is not None]
    return sum(not any(a - 0.2 <= w <= b + 1.5 for a, b in spoken) for w in wakes)


def _active_s(canceller: EchoCanceller | None) -> float:
    return 0.0 if canceller is None else canceller.frames_processed * 0.08


def _started(app: Appliance, start: float) -> Callable[[], bool]:
    def check() -> bool:
        turn = app.pipeline.turn
        return turn is not None and turn.record.wake_at_s is not None and turn.record.wake_at_s >= start

    return check


def _transcribed(records: list[TurnRecord], start: float, end: float) -> Callable[[], bool]:
    return lambda: any(_within(r, start, end) and r.transcript for r in records)


def _within(record: TurnRecord, start: float, end: float) -> bool:
    return record.wake_at_s is not None and start <= record.wake_at_s <= end + 1.0


def bench_settings(settings: Settings, aec: str) -> Settings:
    return replace(settings, audio=replace(settings.audio, aec=aec), memory=replace(settings.memory, enabled=False))


def _measure_into(canceller: EchoCanceller, cost: dict[str, Any], room: LoopbackRoom) -> np.ndarray:
    """Like :func:`_measure`, and keep what came out of the canceller on the room's timeline (for ERLE)."""
    cleaned = np.zeros_like(room.mic)
    process = canceller.process

    def timed(frame: np.ndarray, at_mono: float) -> None:
        t0 = time.thread_time()
        process(frame, at_mono)
        cost["cpu_s"] += time.thread_time() - t0
        cost["frames"] += 1
        i = round(room.at_s(at_mono) * SAMPLE_RATE)
        if 0 <= i <= len(cleaned) - len(frame):
            cleaned[i : i + len(frame)] = frame

    canceller.process = timed  # type: ignore[method-assign]
    return cleaned


def erle_of(room: LoopbackRoom, cleaned: np.ndarray) -> float | None:
    """ERLE over the 80 ms frames holding echo (above -60 dBFS) and no user speech, after the first reply."""
    n = room.pos // 1280
    shape = (n, 1280)
    user = np.abs(room.user[: n * 1280]).reshape(shape).max(axis=1)
    echo = np.mean(room.echo[: n * 1280].reshape(shape) ** 2, axis=1) / 32768.0**2
    keep = (user < 1.0) & (echo > 1e-6)
    keep[: int(12 * SAMPLE_RATE / 1280)] = False  # the warm-up reply
    if not keep.any():
        return None
    mic = room.mic[: n * 1280].astype(np.float64).reshape(shape)[keep]
    out = cleaned[: n * 1280].astype(np.float64).reshape(shape)[keep]
    return round(10 * np.log10(np.sum(mic**2) / max(np.sum(out**2), 1e-9)), 1)


CONDITIONS: tuple[tuple[str, str, float | None, float], ...] = (
    # name, audio.aec, echo over speech (dB; None = no echo at all), direct-to-reverberant ratio (dB)
    ("no_echo", "off", None, 6.0),
    ("echo_minus_40db_no_aec", "off", -40.0, 6.0),
    ("today_6db_no_aec", "off", 6.0, 6.0),
    ("aec_0db", "on", 0.0, 6.0),
    ("aec_6db", "on", 6.0, 6.0),
    ("aec_12db", "on", 12.0, 6.0),
    ("today_12db_no_aec", "off", 12.0, 6.0),
    ("reverberant_6db_no_aec", "off", 6.0, -6.0),
    ("reverberant_6db_aec", "on", 6.0, -6.0),
)


async def bench_echo(
    settings: Settings, engines: Engines, registry: ModelRegistry, *, trials: int = 0, self_wake_minutes: float = 10.0
) -> dict[str, Any]:
    """Every figure of the echo section (see the module docstring)."""
    engines = replace(engines, llm=ScriptedReplies(settings.llm))
    chosen = make_trials(engines, registry)
    chosen = chosen[:trials] if trials else chosen
    log(f"echo: {len(chosen)} requests spoken in silence (the baseline)")
    quiet = [Trial(t.barge, t.barge, t.reference) for t in chosen]
    base = await run_session(bench_settings(settings, "on"), engines, registry, quiet, echo_db=6.0, barge=False)
    report: dict[str, Any] = {"baseline_in_silence": _summary(base)}
    for name, aec, echo_db, drr_db in CONDITIONS:
        log(f"echo: barge-in, {name}")
        decay_s = 0.05 if drr_db > 0 else 0.08  # the reverberant room: RT60 0.55 s
        session = await run_session(
            bench_settings(settings, aec), engines, registry, chosen, echo_db=echo_db, drr_db=drr_db, decay_s=decay_s
        )
        report[name] = _summary(session)
    log(f"echo: self-wakes over {self_wake_minutes:.0f} minutes of the appliance's own speech, +12 dB")
    report["self_wakes"] = await asyncio.to_thread(self_wakes, settings, registry, self_wake_minutes, 12.0)
    log("echo: idle listening CPU with the canceller on (quiet room)")
    report["idle_cpu_percent_of_one_core_aec_on"] = await measure_idle(
        bench_settings(settings, "on"), engines, registry, 15.0
    )
    report["room"] = {
        "delay_s": 0.03,
        "rt60_s": {"drr_6db": 0.35, "drr_minus_6db": 0.55},
        "speech_dbfs": SPEECH_DBFS,
        "barge_after_s": BARGE_AFTER_S,
        "gap_after_wake_s": GAP_S,
    }
    return report


def _summary(session: dict[str, Any]) -> dict[str, Any]:
    rows = session["trials"]
    detected = [r for r in rows if r.get("detected")]
    wers = [r["wer"] if r.get("detected") and r["wer"] is not None else 1.0 for r in rows]
    return {
        "detection_rate": round(len(detected) / max(len(rows), 1), 3),
        "wer_all": round(sum(wers) / max(len(wers), 1), 3),
        "wer_detected": round(sum(r["wer"] for r in detected) / len(detected), 3) if detected else None,
        "erle_db": session["erle_db"],
        "self_wakes": session["self_wakes"],
        "audio_s": session["audio_s"],
        "cpu": session["cpu"],
        "per_request": [{k: r.get(k) for k in ("reference", "transcript", "detected", "wer")} for r in rows],
    }
