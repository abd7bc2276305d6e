"""The rooms bench's room simulation: where each appliance stands in a trial, and what its microphone hears.

One person speaks; each appliance hears the same utterance at its own level (the nearest at
0 dB, the others at -6 and -12 dB) over its own room's noise.  Which appliance is nearest
rotates from trial to trial, and every fourth trial puts the nearest room in noise (and
every fourth, one after it, the middle one): then the nearest is not the clearest, and the
ground truth "best placed" (the clearest signal) is another appliance.  Pure numbers and
numpy: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from appliance.audio import SAMPLE_RATE

GAINS_DB = (0.0, -6.0, -12.0)
"""Speech level at the nearest appliance, the next and the furthest, relative to the speaker's."""
QUIET_NOISE_DBFS = -60.0
"""A quiet room's noise (RMS); each trial draws it within ``QUIET_SPREAD_DB`` of this."""
QUIET_SPREAD_DB = 2.0
NOISY_SNR_DB = 6.0
"""Speech over noise in the room that is in noise (a running tap, a fan close by)."""
KINDS = ("quiet", "quiet", "nearest-in-noise", "middle-in-noise")
"""Trial ``i`` is of kind ``KINDS[i % 4]``; the nearest appliance is ``devices[i % len(devices)]``."""
VOICED_BELOW_PEAK_DB = 30.0
"""Frames within this of the loudest count as speech when measuring a clip's level."""
LEVEL_FRAME = 320
"""Samples per frame when measuring levels (20 ms)."""


@dataclass(frozen=True)
class Placement:
    """One appliance in one trial."""

    device: str
    gain_db: float
    """Speech level here relative to the nearest appliance, dB (0, -6, -12)."""
    noise_dbfs: float
    """This room's noise, RMS dBFS."""
    snr_db: float
    """The speech's level here (over its voiced frames) minus the noise's, dB: the simulation's truth."""


@dataclass(frozen=True)
class Trial:
    """One wake word heard by every appliance at once, and the request after it."""

    index: int
    minutes: int
    """The timer the request asks for: distinct per trial, so each action is counted once."""
    kind: str
    placements: tuple[Placement, ...]

    @property
    def nearest(self) -> str:
        """The appliance the speaker stands closest to (0 dB)."""
        return max(self.placements, key=lambda p: p.gain_db).device

    @property
    def clearest(self) -> str:
        """The appliance with the clearest signal: the ground truth "best placed"."""
        return max(self.placements, key=lambda p: p.snr_db).device

    def placement(self, device: str) -> Placement:
        return next(p for p in self.placements if p.device == device)


def dbfs(samples: np.ndarray) -> float:
    """RMS level of ``samples`` (int16 scale) in dBFS; -120 for silence."""
    power = float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0
    return max(-120.0, 10.0 * np.log10(max(power, 1e-12) / (32768.0 * 32768.0)))


def speech_dbfs(samples: np.ndarray, frame: int = LEVEL_FRAME) -> float:
    """RMS level of a clip's voiced frames (those within 30 dB of its loudest), dBFS."""
    n = len(samples) // frame * frame
    frames = samples[:n].astype(np.float64).reshape(-1, frame)
    power = np.mean(np.square(frames), axis=1)
    if not power.size or power.max() <= 0.0:
        return -120.0
    voiced = frames[power >= power.max() * 10 ** (-VOICED_BELOW_PEAK_DB / 10)]
    return dbfs(voiced)


def plan_trials(
    devices: Sequence[str], count: int, speech_level_dbfs: float, *, seed: int = 7, first_minutes: int = 2
) -> list[Trial]:
    """``count`` trials: the nearest rotates over ``devices``, the kinds cycle through :data:`KINDS`."""
    rng = np.random.default_rng(seed)
    trials = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        order = [devices[(i + k) % len(devices)] for k in range(len(devices))]  # nearest first
        placements = []
        for rank, device in enumerate(order):
            gain = GAINS_DB[min(rank, len(GAINS_DB) - 1)]
            noise = QUIET_NOISE_DBFS + float(rng.uniform(-QUIET_SPREAD_DB, QUIET_SPREAD_DB))
            noisy = (kind == "nearest-in-noise" and rank == 0) or (kind == "middle-in-noise" and rank == 1)
            if noisy:
                noise = speech_level_dbfs + gain - NOISY_SNR_DB
            level = speech_level_dbfs + gain
            placements.append(Placement(device, gain, round(noise, 2), round(level - noise, 2)))
        trials.append(Trial(i, first_minutes + i, kind, tuple(placements)))
    return trials


def room_noise(samples: int, level_dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """Steady broadband noise (a fan, a tap) of ``samples`` samples at ``level_dbfs`` RMS, float64."""
    return rng.standard_normal(samples) * 32768.0 * 10 ** (level_dbfs / 20)


def mix(speech: np.ndarray, gain_db: float, noise: np.ndarray) -> np.ndarray:
    """``speech`` scaled by ``gain_db`` over ``noise`` (as long or longer), clipped to int16."""
    out = noise.astype(np.float64).copy()
    out[: len(speech)] += speech.astype(np.float64) * 10 ** (gain_db / 20)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def trial_audio(trial: Trial, utterance: np.ndarray, lead_s: float, tail_s: float, seed: int) -> dict[str, np.ndarray]:
    """Each appliance's input for ``trial``: its room's noise for ``lead_s``, the utterance over it, ``tail_s`` more."""
    lead, tail = int(lead_s * SAMPLE_RATE), int(tail_s * SAMPLE_RATE)
    speech = np.concatenate([np.zeros(lead, np.int16), utterance, np.zeros(tail, np.int16)])
    out = {}
    for k, p in enumerate(trial.placements):
        rng = np.random.default_rng([seed, trial.index, k])
        out[p.device] = mix(speech, p.gain_db, room_noise(len(speech), p.noise_dbfs, rng))
    return out
