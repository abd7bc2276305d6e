"""The session bench's pure parts: voicing and first audio in a PCM stream, the daemon's log lines."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE

FRAME = 320
"""Samples per write: 20 ms, as a microphone delivers them."""
SILENT = 500
"""Output samples above this (of 32767) count as reply audio."""
SPEECH_RMS = 300.0
"""A 20 ms input frame above this RMS is speech (for finding where a request's speech ends)."""

_TURN_LINE = re.compile(r"event turn (\{.*\})\s*$")
_LLM_LINE = re.compile(r"LLM turn: (\d+) prompt tokens, (\d+) evaluated")


@dataclass
class Request:
    label: str
    """The text asked (Piper) or the recording it was cut from (human)."""
    audio: np.ndarray
    """16 kHz int16, speech only (the bench adds the wake phrase and silence)."""
    human: bool
    speech_s: float = 0.0
    """Where its speech ends, by the daemon's own speech detector (seconds from its start)."""


@dataclass
class TurnResult:
    request: Request
    speech_start: float = 0.0
    """Monotonic seconds the request's first sample (after the wake phrase and its gap) was written."""
    speech_end: float = 0.0
    """Monotonic seconds the request's last speech sample was written."""
    first_audio: float | None = None
    spoke_over: bool = False
    """The reply began while the request's speech was still being written: the speaker was cut off."""
    event: dict[str, Any] = field(default_factory=dict)
    evaluated: int | None = None
    prompt_tokens: int | None = None


# -- pure parts --------------------------------------------------------------------------
def energy_voicing(samples: np.ndarray, frame: int = FRAME, threshold: float = SPEECH_RMS) -> np.ndarray:
    """Per ``frame``-sample frame: louder than ``threshold`` RMS (clean, synthetic speech)."""
    n = len(samples) // frame * frame
    frames = samples[:n].astype(np.float32).reshape(-1, frame)
    return np.asarray(np.sqrt((frames**2).mean(axis=1)) > threshold)


def speech_end_s(voiced: np.ndarray, frame: int = FRAME, rate: int = SAMPLE_RATE) -> float:
    """Seconds from the start to the end of the last voiced frame (0 when none is)."""
    loud = np.flatnonzero(voiced)
    return float((loud[-1] + 1) * frame / rate) if loud.size else 0.0


def utterances(
    samples: np.ndarray,
    voiced: np.ndarray,
    frame: int = FRAME,
    *,
    min_pause_s: float = 0.45,
    min_s: float = 2.0,
    max_s: float = 6.0,
    margin_s: float = 0.1,
) -> list[np.ndarray]:
    """The stretches of speech between pauses, ``min_s``–``max_s`` long, with a little silence either side."""
    pause_frames = max(round(min_pause_s * SAMPLE_RATE / frame), 1)
    spans, start, quiet = [], None, 0
    for i, v in enumerate([*voiced, *([False] * pause_frames)]):
        if v:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet >= pause_frames:
                spans.append((start, i - quiet + 1))
                start, quiet = None, 0
    margin = round(margin_s * SAMPLE_RATE)
    out = []
    for a, b in spans:
        if min_s <= (b - a) * frame / SAMPLE_RATE <= max_s:
            out.append(samples[max(a * frame - margin, 0) : min(b * frame + margin, len(samples))])
    return out


def first_audio_after(
    arrivals: Sequence[tuple[float, int]], pcm: bytes, after: float, rate: int, threshold: int = SILENT
) -> float | None:
    """When the first loud output sample that arrived after ``after`` plays (monotonic seconds).

    ``arrivals`` are (monotonic time, byte offset in ``pcm``) of each read from
    the daemon's stdout; a read's samples play from its arrival on, one per
    1/``rate`` s.
    """
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    ends = [offset for _, offset in arrivals[1:]] + [len(pcm)]
    for (t, offset), end in zip(arrivals, ends, strict=True):
        if t < after:
            continue
        first = (offset + 1) // 2
        loud = np.flatnonzero(np.abs(samples[first : end // 2].astype(np.int32)) > threshold)
        if loud.size:
            return t + float(loud[0]) / rate
    return None


def reply_onset(
    arrivals: Sequence[tuple[float, int]], pcm: bytes, listening: float, speech_end: float, rate: int
) -> tuple[float | None, bool]:
    """(When the reply's first audio played, whether it spoke over the speaker).

    Output that starts after ``listening`` (the request under way) but before
    ``speech_end`` cut the speaker off: that turn has no latency to report.
    """
    early = first_audio_after(arrivals, pcm, listening, rate)
    if early is not None and early < speech_end:
        return None, True
    return first_audio_after(arrivals, pcm, speech_end, rate), False


def parse_turn(line: str) -> dict[str, Any] | None:
    """The fields of a daemon log line ``event turn {...}``, or None for any other line."""
    match = _TURN_LINE.search(line)
    if match is None:
        return None
    try:
        value = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, dict) else None


def parse_llm(line: str) -> tuple[int, int] | None:
    """(prompt tokens, tokens evaluated) from the LLM adapter's per-generation log line."""
    match = _LLM_LINE.search(line)
    return (int(match.group(1)), int(match.group(2))) if match else None
