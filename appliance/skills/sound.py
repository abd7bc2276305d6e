"""The alarm sound: a bright three-note chime (A major arpeggio) with soft attack and bell-like decay, then a rest.

One period is generated once per sample rate and cached read-only; play it
in a loop while an alarm or timer rings.
"""

from __future__ import annotations

import functools

import numpy as np

NOTES_HZ = (880.0, 1108.73, 1318.51)
"""A5, C♯6, E6."""
NOTE_S = 0.16
"""Each note's spacing, seconds (notes ring on under the next)."""
RING_S = 0.5
"""How long each note sounds before fading to nothing, seconds."""
REST_S = 0.45
PEAK = 0.55
"""Peak level as a fraction of full scale: loud enough to wake, with headroom for the speaker."""


@functools.lru_cache(maxsize=8)
def alarm_tone(sample_rate: int) -> np.ndarray:
    """One period (about 1.2 s) of the chime as read-only int16 mono at ``sample_rate`` Hz."""
    if sample_rate < 8000:
        raise ValueError(f"sample rate {sample_rate} Hz is too low for the chime")
    length = int(sample_rate * (NOTE_S * (len(NOTES_HZ) - 1) + RING_S + REST_S))
    out = np.zeros(length, dtype=np.float32)
    n = int(sample_rate * RING_S)
    t = np.arange(n, dtype=np.float32) / sample_rate
    attack = np.minimum(1.0, t / 0.004)  # 4 ms: no click
    envelope = attack * np.exp(-t * 7.0)
    for index, hz in enumerate(NOTES_HZ):
        tone = np.sin(2 * np.pi * hz * t) + 0.3 * np.sin(2 * np.pi * 2 * hz * t) + 0.1 * np.sin(2 * np.pi * 3 * hz * t)
        start = int(sample_rate * NOTE_S * index)
        out[start : start + n] += tone * envelope
    out *= PEAK / float(np.max(np.abs(out)))
    pcm = np.round(out * 32767).astype(np.int16)
    pcm.flags.writeable = False
    return pcm


def ring_pattern(sample_rate: int, seconds: float) -> np.ndarray:
    """The chime repeated to fill ``seconds`` (for a sink that wants one buffer)."""
    tone = alarm_tone(sample_rate)
    repeats = max(1, int(np.ceil(seconds * sample_rate / len(tone))))
    return np.tile(tone, repeats)[: max(len(tone), int(seconds * sample_rate))]
