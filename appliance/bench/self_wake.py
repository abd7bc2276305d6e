"""Self-wakes: wake words heard in ten minutes of the appliance's own speech fed back through a room.

Part of ``appliance bench --only echo``.  It runs on a simulated clock
(:class:`~appliance.audio.room.SimulatedLoop`), as fast as the CPU allows: Piper
reading reply-like lines (some naming "Jarvis") at several speaking rates, and the
real moonshine recordings played as if they were replies, at +12 dB over speech.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.buffer import resample
from appliance.audio.echo import EchoCanceller
from appliance.audio.room import SimulatedLoop, dbfs, room_response
from appliance.audio.wav import read_wav
from appliance.bench.echo_trials import LONG_REPLY, SPEECH_DBFS
from appliance.bench.harness import log
from appliance.engines.wake import load_detector
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings, WakeSettings


def self_wakes(settings: Settings, registry: ModelRegistry, minutes: float, echo_db: float) -> dict[str, Any]:
    """Wake words heard in ``minutes`` of the appliance's own speech through the room (simulated clock):
    Piper reading replies (some naming "Jarvis") at three speaking rates, and the real recordings played."""
    from appliance.engines.tts import PiperTts

    lines = [s.strip() + "." for s in LONG_REPLY.split(".") if s.strip()] + list(SELF_WAKE_LINES)
    clips: list[tuple[np.ndarray, int]] = []
    for name in ("two-cities", "endgame", "beckett"):
        clips.append(((read_wav(registry.resolve(f"speech-{name}"), SAMPLE_RATE) * 0.64).astype(np.int16), SAMPLE_RATE))
    total = sum(len(c) / r for c, r in clips)
    scales = itertools.cycle((1.0, 0.85, 1.2, 0.95, 1.1, 0.9, 1.3))  # speaking rates, with Piper's own variation
    while total < minutes * 60:
        tts = PiperTts(registry.resolve(settings.tts.voice), replace(settings.tts, length_scale=next(scales)))
        for line in lines:
            audio = tts.synthesize_all(line)
            clips.append(((audio * 0.64).astype(np.int16), tts.sample_rate))
            total += len(audio) / tts.sample_rate
    reply = np.concatenate([resample(c, r, SAMPLE_RATE) for c, r in clips])
    gain = 10 ** ((SPEECH_DBFS + echo_db - dbfs(reply)) / 20)
    result: dict[str, Any] = {"minutes_of_own_speech": round(len(reply) / SAMPLE_RATE / 60, 1), "echo_db": echo_db}
    for label, canceller in (("with_aec", EchoCanceller()), ("without_aec", None)):
        hits = _wakes_heard(registry, reply, gain, canceller)
        result[label] = {"wakes": len(hits), "at_s": hits[:10]}
        if canceller is not None:
            result[label]["dips"] = canceller.near_end_frames
        log(f"self-wakes {label}: {len(hits)}")
    minutes_played = len(reply) / SAMPLE_RATE / 60
    result["per_hour_with_aec"] = round(result["with_aec"]["wakes"] * 60 / minutes_played, 1)
    return result


def _wakes_heard(
    registry: ModelRegistry, reply: np.ndarray, gain: float, canceller: EchoCanceller | None
) -> list[float]:

    wake = load_detector(WakeSettings(), registry.resolve)
    hits: list[float] = []
    frames = 0

    def process(frame: np.ndarray, heard: float) -> None:
        nonlocal frames
        if canceller is not None:
            canceller.process(frame, heard)
        frames += 1
        found = wake.process(frame, frames * 0.08)
        if found is not None:
            hits.append(round(found.at_s, 1))

    loop = SimulatedLoop(room_response(3), echo_gain=gain, canceller=canceller)
    loop.run(reply, SAMPLE_RATE, np.zeros(len(reply) + SAMPLE_RATE, dtype=np.float32), process, reply_at_s=0.5)
    return hits


SELF_WAKE_LINES = (
    "My name is Jarvis, and I am happy to help.",
    "You can call me Jarvis any time you need me.",
    "Hey, that is a good question.",
    "The timer for your pasta is set for ten minutes.",
    "Tomorrow will be cloudy in the morning, with sunny spells in the afternoon and a high of eighteen degrees.",
    "The kitchen light is on.",
    "Romeo and Juliet was written by William Shakespeare, early in his career.",
    "The moon is about three hundred and eighty four thousand kilometres away from the earth.",
    "Here is a joke. Why did the cat sit on the computer? To keep an eye on the mouse.",
    "I have added milk, eggs and bread to your shopping list.",
    "Your next alarm will ring at seven thirty tomorrow morning.",
    "Jarvis is listening. What would you like to do?",
)
