"""``appliance converse FILE.wav``: the whole voice loop on a recording, with timings.

The recording is fed to the real front end as a microphone would deliver it
(real time unless ``--fast``); replies go to a WAV file played at real-time
speed, so barge-in and latencies behave as on the device.  Timings that refer
to "end of speech" use the recording itself as ground truth: the last voiced
sample of the request, found from the signal's energy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.sink import WavSink
from appliance.audio.source import ArraySource
from appliance.audio.wav import read_wav
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Appliance, Engines, load_engines
from appliance.settings import Settings
from appliance.voice.turn_record import TurnRecord

TIMING_KEYS = (
    "wake_detect_delay_s",
    "endpoint_delay_s",
    "stt_s",
    "llm_first_token_s",
    "tts_first_audio_s",
    "end_of_speech_to_first_audio_s",
)
"""The per-stage seconds ``converse --json`` reports, in pipeline order."""
SEGMENT_FRAME_S = 0.02
MIN_GAP_S = 0.25
MIN_SEGMENT_S = 0.08


def voiced_segments(samples: np.ndarray, rate: int = SAMPLE_RATE) -> list[tuple[float, float]]:
    """(start_s, end_s) of the voiced stretches of a recording, from its short-time energy."""
    step = int(rate * SEGMENT_FRAME_S)
    n = len(samples) // step
    if n == 0:
        return []
    frames = samples[: n * step].astype(np.float32).reshape(n, step)
    level = 10 * np.log10(np.mean(frames**2, axis=1) / 32768.0**2 + 1e-12)
    voiced = level > max(-50.0, float(level.max()) - 40.0)
    segments: list[list[float]] = []
    for i in np.flatnonzero(voiced):
        start, end = i * SEGMENT_FRAME_S, (i + 1) * SEGMENT_FRAME_S
        if segments and start - segments[-1][1] < MIN_GAP_S:
            segments[-1][1] = end
        else:
            segments.append([start, end])
    return [(round(s, 3), round(e, 3)) for s, e in segments if e - s >= MIN_SEGMENT_S]


@dataclass
class ConverseResult:
    turns: list[TurnRecord]
    segments: list[tuple[float, float]]
    realtime: bool
    reply_wav: str
    wall_of: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def turn_summary(self, record: TurnRecord) -> dict[str, Any]:
        timings = dict(record.timings())
        wake_end = _segment_end_at(self.segments, record.wake_at_s)
        speech_end = _last_end_before(self.segments, record.endpoint_at_s)
        if self.realtime and self.wall_of is not None:
            timings["wake_detect_delay_s"] = _diff(record.wake_mono, self.wall_of(wake_end))
            timings["endpoint_delay_s"] = _diff(record.endpoint_mono, self.wall_of(speech_end))
            timings["end_of_speech_to_first_audio_s"] = _diff(record.first_audio_mono, self.wall_of(speech_end))
        else:  # fast mode: positions on the audio timeline only
            timings["wake_detect_delay_s"] = _diff(record.wake_at_s, wake_end)
            timings["endpoint_delay_s"] = _diff(record.endpoint_at_s, speech_end)
            timings["end_of_speech_to_first_audio_s"] = None
        return {
            "turn_id": record.turn_id,
            "outcome": record.outcome,
            "wake": {
                "detected": record.wake_at_s is not None,
                "model": record.wake_model or None,
                "score": round(record.wake_score, 3) if record.wake_at_s is not None else None,
                "at_s": record.wake_at_s,
            },
            "transcript": record.transcript,
            "reply": record.reply,
            "intent": record.intent,
            "speculated": record.speculated,
            "endpoint_semantic": record.endpoint_semantic,
            "endpoint_reopened": record.endpoint_reopened,
            "endpoint_resumed": record.endpoint_resumed,
            "turn_probability": None if record.turn_probability is None else round(record.turn_probability, 3),
            "speech_end_s": speech_end,
            "timings": timings,
        }

    def as_dict(self) -> dict[str, Any]:
        turns = [self.turn_summary(t) for t in self.turns]
        first = turns[0] if turns else None
        return {
            "wake": first["wake"] if first else {"detected": False, "model": None, "score": None, "at_s": None},
            "transcript": first["transcript"] if first else "",
            "reply": first["reply"] if first else "",
            "reply_wav": self.reply_wav,
            "timings": {k: first["timings"].get(k) for k in TIMING_KEYS} if first else dict.fromkeys(TIMING_KEYS),
            "turns": turns,
            "realtime": self.realtime,
            **self.extra,
        }


def _diff(a: float | None, b: float | None) -> float | None:
    return round(a - b, 4) if a is not None and b is not None else None


def _segment_end_at(segments: list[tuple[float, float]], at_s: float | None) -> float | None:
    """End of the voiced stretch that contains (or last began before) ``at_s``."""
    if at_s is None:
        return None
    candidates = [seg for seg in segments if seg[0] <= at_s]
    return candidates[-1][1] if candidates else None


def _last_end_before(segments: list[tuple[float, float]], at_s: float | None) -> float | None:
    if at_s is None:
        return None
    ends = [end for _, end in segments if end <= at_s + SEGMENT_FRAME_S]
    return ends[-1] if ends else None


async def converse(
    settings: Settings,
    engines: Engines,
    registry: ModelRegistry,
    samples: np.ndarray,
    *,
    realtime: bool = True,
    pace_output: bool | None = None,
    out: Path,
    timeout_s: float = 300.0,
    configure: Callable[[Appliance], None] | None = None,
) -> ConverseResult:
    """Feed ``samples`` through a fresh appliance and collect every turn.

    ``pace_output`` (default: like ``realtime``) plays replies at speaking
    speed; ``configure`` may adjust the appliance before it starts.
    """
    source = ArraySource(samples, name="converse", realtime=realtime, tail_s=None)
    sink = WavSink(out, realtime=realtime if pace_output is None else pace_output)
    app = Appliance(settings, engines, registry=registry, source_factory=lambda: source, sink=sink, control=False)
    turns: list[TurnRecord] = []
    app.pipeline.on_turn_finished.append(turns.append)
    app.pipeline.earcon = False
    if configure is not None:
        configure(app)
    runner = asyncio.create_task(app.run())
    deadline = time.monotonic() + timeout_s + len(samples) / SAMPLE_RATE
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        idle = app.pipeline.turn is None and app.frontend.mode.value != "capture"
        if source.eof_reached and idle and source.position_s > source.duration_s + 0.5:
            break
    app.stop()
    await runner
    return ConverseResult(
        turns,
        voiced_segments(samples),
        realtime,
        str(out),
        wall_of=lambda s: None if s is None else source.wall_time_of(s),
    )


def converse_command(settings: Settings, args: argparse.Namespace) -> int:
    registry = ModelRegistry(settings.state_dir)
    samples = read_wav(args.wav)
    engines = load_engines(settings, registry)
    out = args.out or Path(tempfile.mkdtemp(prefix="converse-")) / "reply.wav"
    result = asyncio.run(converse(settings, engines, registry, samples, realtime=not args.fast, out=out))
    data = result.as_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    for turn in data["turns"]:
        wake = turn["wake"]
        heard = f"wake {wake['model']} ({wake['score']}) at {wake['at_s']} s" if wake["detected"] else "no wake word"
        print(f"[{turn['outcome']}] {heard}\n  you: {turn['transcript']}\n  me:  {turn['reply']}")
    if not data["turns"]:
        print("no wake word heard")
    print(f"reply audio: {data['reply_wav']}")
    return 0
