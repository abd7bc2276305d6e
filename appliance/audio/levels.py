"""Speech level and signal-to-noise over a wake word, from the audio just heard (numpy, one pass)."""

from __future__ import annotations

import numpy as np

from appliance.audio import FRAME_SAMPLES, SAMPLE_RATE

FLOOR_DBFS = -120.0
"""What digital silence reads as."""
WAKE_S = 1.0
"""Seconds before the detection taken as the wake word itself (the models fire at its end)."""
NOISE_QUANTILE = 0.1
"""The quietest frames of what came before stand for the room's noise."""


def frame_dbfs(samples: np.ndarray) -> np.ndarray:
    """dBFS of each whole 80 ms frame of int16 ``samples`` (a trailing partial frame is left out)."""
    frames = samples[: len(samples) // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    power = np.mean(np.square(frames, dtype=np.float64), axis=1) / (32768.0 * 32768.0)
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-12)), FLOOR_DBFS)


def wake_levels(samples: np.ndarray, *, wake_s: float = WAKE_S) -> tuple[float, float]:
    """``(level_dbfs, snr_db)`` of a wake word ending at the end of ``samples``.

    The level is the loudest frame of the last ``wake_s``; the noise the quiet
    end of every frame heard (before the wake word, and its own pauses), so a
    wake word in a quiet room reads clearer than the same one over a fan.
    """
    levels = frame_dbfs(samples)
    if len(levels) == 0:
        return FLOOR_DBFS, 0.0
    wake = levels[-max(1, int(wake_s * SAMPLE_RATE) // FRAME_SAMPLES) :]
    level = float(np.max(wake))
    noise = float(np.quantile(levels, NOISE_QUANTILE))
    return round(level, 1), round(min(80.0, max(-20.0, level - noise)), 1)
