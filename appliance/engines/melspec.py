"""Whisper's log-mel spectrogram in numpy, for a fixed-length window of 16 kHz audio.

The parameters are Whisper's: a 400-sample (25 ms) periodic Hann window every
160 samples (10 ms), centred frames (reflect padding), the power spectrum
folded into 80 triangular mel bands (Slaney's mel scale and area
normalisation), log10 clamped to 8 decades below its peak, then scaled by
``(x + 4) / 4``.  Whisper drops the last centred frame, so N samples give
N // 160 frames (8 s: 80 x 800).

Everything that does not depend on the audio (window, filterbank, the padded
buffer) is built once, since the turn model calls this once per pause.
"""

from __future__ import annotations

import numpy as np

from appliance.audio import SAMPLE_RATE

N_FFT = 400
"""Samples per analysis window (25 ms)."""
HOP = 160
"""Samples between frames (10 ms)."""
N_MELS = 80

_MEL_BREAK_HZ = 1000.0
"""Slaney's scale is linear below this and logarithmic above it."""
_HZ_PER_MEL = 200.0 / 3.0
_LOG_STEP = np.log(6.4) / 27.0
"""Mels per natural-log step above the break (27 bands per factor 6.4)."""


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (as librosa's ``htk=False``)."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _HZ_PER_MEL
    brk = _MEL_BREAK_HZ / _HZ_PER_MEL
    above = brk + np.log(np.maximum(hz, _MEL_BREAK_HZ) / _MEL_BREAK_HZ) / _LOG_STEP
    return np.where(hz >= _MEL_BREAK_HZ, above, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    brk = _MEL_BREAK_HZ / _HZ_PER_MEL
    above = _MEL_BREAK_HZ * np.exp(_LOG_STEP * (np.maximum(mel, brk) - brk))
    return np.where(mel >= brk, above, mel * _HZ_PER_MEL)


def mel_filterbank(rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular filters (n_mels x n_fft//2+1) spaced evenly in mels from 0 Hz to Nyquist, each of unit area."""
    bins_hz = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(rate / 2), n_mels + 2))
    low, centre, high = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz - low) / (centre - low)
    falling = (high - bins_hz) / (high - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= 2.0 / (high - low)  # Slaney normalisation: every band has the same area
    return weights.astype(np.float32)


class LogMel:
    """Whisper's log-mel features of exactly ``samples`` samples of float audio: (80, samples // 160)."""

    def __init__(self, samples: int) -> None:
        if samples < N_FFT:
            raise ValueError(f"need at least {N_FFT} samples, got {samples}")
        self.samples = samples
        self.frames = samples // HOP
        self._window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
        self._filters = mel_filterbank()
        self._padded = np.zeros(samples + N_FFT, dtype=np.float32)
        half = N_FFT // 2
        self._half = half
        strided = np.lib.stride_tricks.sliding_window_view(self._padded, N_FFT)[::HOP]
        self._framed = strided[: self.frames]  # a view: Whisper drops the last centred frame

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Features of ``audio`` (float, ``samples`` long), as float32."""
        if len(audio) != self.samples:
            raise ValueError(f"expected {self.samples} samples, got {len(audio)}")
        half, padded = self._half, self._padded
        padded[half : half + self.samples] = audio
        padded[:half] = audio[half:0:-1]  # reflect, not repeating the edge sample
        padded[half + self.samples :] = audio[-2 : -half - 2 : -1]
        spectrum = np.fft.rfft(self._framed * self._window, axis=1)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        mel = self._filters @ power.T
        log = np.log10(np.maximum(mel, 1e-10, out=mel), out=mel)
        np.maximum(log, log.max() - 8.0, out=log)
        log += 4.0
        log /= 4.0
        return log
