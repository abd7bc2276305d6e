"""``appliance doctor --echo``: a one-minute check of echo cancellation on the real speaker and microphone.

It plays exponential sine sweeps through the configured playback device while
the configured microphone listens, runs every frame through the same
:class:`~appliance.audio.echo.EchoCanceller` the daemon uses (fed by the
sink's reference tap), and reports how much quieter the sweeps came out
(ERLE), the delay between the sink's "audible now" stamp and the echo's arrival
(the acoustic path plus any buffering the device does not report), and
whether the microphone hears the speaker at all.  The daemon must not be
holding the devices (``systemctl stop appliance`` first).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from appliance.audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE
from appliance.audio.buffer import resample
from appliance.audio.echo import EchoCanceller, erle_db
from appliance.audio.room import dbfs

SWEEP_S = 4.0
GAP_S = 0.5
MIN_ERLE_DB = 20.0
MIN_ECHO_OVER_FLOOR_DB = 10.0
"""Below this the microphone hardly hears the speaker: nothing to cancel, the check says so."""


def sweep(rate: int, seconds: float = SWEEP_S, low_hz: float = 100.0, high_hz: float = 7000.0) -> np.ndarray:
    """An exponential sine sweep at -12 dBFS with 20 ms fades (int16)."""
    t = np.arange(int(seconds * rate)) / rate
    k = np.log(high_hz / low_hz)
    wave = np.sin(2 * np.pi * low_hz * seconds / k * (np.exp(t * k / seconds) - 1))
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
    return (wave * fade * 0.25 * 32767).astype(np.int16)


def estimate_delay_s(reference: np.ndarray, mic: np.ndarray, max_s: float = 0.5) -> tuple[float, float]:
    """(delay, normalised correlation peak) of the echo of ``reference`` in ``mic`` (same timeline, 16 kHz)."""
    n = min(len(reference), len(mic))
    ref, sig = reference[:n].astype(np.float64), mic[:n].astype(np.float64)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    corr = np.fft.irfft(np.fft.rfft(sig, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = corr[: int(max_s * SAMPLE_RATE)]
    best = int(np.argmax(np.abs(lags)))
    scale = np.sqrt(np.sum(ref**2) * np.sum(sig**2)) or 1.0
    return best / SAMPLE_RATE, float(abs(lags[best]) / scale)


def echo_self_test(
    output_device: str, input_device: str, *, volume: int, seconds: float = 60.0, log: Callable[[str], None]
) -> dict[str, Any]:
    """Play sweeps for ``seconds`` on the real devices; ERLE, delay and levels as a doctor section."""
    from appliance.audio.source import MicSource
    from appliance.audio.speaker import SpeakerSink

    sink = SpeakerSink(output_device, volume=volume)
    mic = MicSource(input_device)
    # near-end speech is counted, not acted on: the sweeps must never trip it
    canceller = EchoCanceller(on_near_end=lambda seconds: None)
    played: list[tuple[np.ndarray, int, float]] = []
    sink.on_played += [canceller.played, lambda s, r, at: played.append((s.copy(), r, at))]
    mic.open()
    try:
        raw, cleaned, first = _listen(sink, mic, canceller, seconds, log)
    finally:
        sink.close()
        mic.close()
    return _report(raw, cleaned, _on_timeline(played, first, len(raw)), canceller)


def _listen(
    sink: Any, mic: Any, canceller: EchoCanceller, seconds: float, log: Callable[[str], None]
) -> tuple[np.ndarray, np.ndarray, float]:
    frames = int(seconds / FRAME_SECONDS)
    raw, cleaned = np.zeros(frames * FRAME_SAMPLES, np.int16), np.zeros(frames * FRAME_SAMPLES, np.int16)
    frame = np.zeros(FRAME_SAMPLES, np.int16)
    first, rate = 0.0, 48_000
    tone = sweep(rate)
    log(f"echo check: playing sweeps for {seconds:.0f} s; keep the room quiet")
    for i in range(frames):
        if i == int(2.0 / FRAME_SECONDS):  # two seconds of the room alone first: its noise floor
            for _ in range(int((seconds - 3.0) / (SWEEP_S + GAP_S))):
                sink.play(np.concatenate([tone, np.zeros(int(GAP_S * rate), np.int16)]), rate)
        while not mic.read_into(frame, timeout=1.0):
            pass
        heard = time.monotonic() - FRAME_SECONDS
        first = first or heard
        raw[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] = frame
        canceller.process(frame, heard)
        cleaned[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] = frame
    return raw, cleaned, first


def _on_timeline(played: list[tuple[np.ndarray, int, float]], first: float, n: int) -> np.ndarray:
    """What the speaker played, at 16 kHz, where the sink said it became audible on the microphone's timeline."""
    out = np.zeros(n, np.float32)
    for samples, rate, at in played:
        block = resample(samples, rate, SAMPLE_RATE)
        i = round((at - first) * SAMPLE_RATE)
        if 0 <= i < n:
            out[i : i + len(block)] = block[: n - i]
    return out


def _report(raw: np.ndarray, cleaned: np.ndarray, reference: np.ndarray, canceller: EchoCanceller) -> dict[str, Any]:
    floor = dbfs(raw[: int(1.5 * SAMPLE_RATE)])
    active = np.abs(reference) > 100
    late = np.zeros_like(active)
    late[len(late) // 2 :] = True  # after half a minute: adapted
    echo = dbfs(raw[active]) if active.any() else -120.0
    heard = echo - floor >= MIN_ECHO_OVER_FLOOR_DB
    erle = round(erle_db(raw[active & late], cleaned[active & late]), 1) if (active & late).any() else None
    delay, peak = estimate_delay_s(reference, raw.astype(np.float32))
    ok = heard and erle is not None and erle >= MIN_ERLE_DB
    advice = "" if ok else ("the microphone hardly hears the speaker: raise the volume" if not heard else "ERLE low")
    return {
        "ok": ok,
        "erle_db": erle,
        "delay_ms": round(1000 * delay, 1),
        "delay_confidence": round(peak, 2),
        "echo_dbfs": round(echo, 1),
        "noise_floor_dbfs": round(floor, 1),
        "near_end_dips": canceller.near_end_frames,
        "advice": advice,
    }
