"""Endpointing decisions with plain numbers, and the real speech detectors on real audio."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.audio import FRAME_SAMPLES
from appliance.vad import Segmenter, SegmentEvent, SileroDetector, VoiceGate, WebRtcDetector

F = 0.08  # seconds per frame


def run(seg: Segmenter, pattern: str) -> list[tuple[int, SegmentEvent]]:
    """Feed 'S' (speech) / '.' (silence) frames; return (index, event) pairs."""
    out = []
    for i, ch in enumerate(pattern):
        ev = seg.process(F, ch == "S")
        if ev is not None:
            out.append((i, ev))
    return out


def test_start_needs_enough_voiced_audio():
    seg = Segmenter(speech_start_s=0.15, speculate_after_s=0)
    assert run(seg, "S.S.S.") == []  # isolated blips never start a request
    assert not seg.started
    assert run(seg, "SS") == [(1, SegmentEvent.STARTED)]


def test_endpoint_after_end_silence():
    seg = Segmenter(speech_start_s=0.15, end_silence_s=0.6, speculate_after_s=0)
    events = run(seg, "SSSS" + "." * 8)
    assert events[0] == (1, SegmentEvent.STARTED)
    # 0.6 s of silence = 7.5 frames -> the 8th silent frame (index 11) closes it
    assert events[-1] == (11, SegmentEvent.ENDED)
    assert seg.speech_end_s == pytest.approx(4 * F)


def test_speculate_then_resume_then_end():
    seg = Segmenter(speech_start_s=0.15, end_silence_s=0.6, speculate_after_s=0.2)
    events = [e for _, e in run(seg, "SSS...SS" + "." * 8)]
    assert events == [
        SegmentEvent.STARTED,
        SegmentEvent.SPECULATE,
        SegmentEvent.RESUMED,
        SegmentEvent.SPECULATE,
        SegmentEvent.ENDED,
    ]


def test_no_speech_timeout():
    seg = Segmenter(no_speech_timeout_s=0.8)
    assert run(seg, "." * 20) == [(9, SegmentEvent.TIMEOUT)]
    assert seg.finished
    assert seg.process(F, True) is None  # finished segmenters ignore input


def test_max_utterance_length():
    seg = Segmenter(speech_start_s=0.0, max_utterance_s=1.0, speculate_after_s=0)
    events = run(seg, "S" * 30)
    assert events[0][1] == SegmentEvent.STARTED
    assert events[-1][1] == SegmentEvent.MAX_LENGTH
    assert events[-1][0] == 12  # 1.0 s after speech started at frame 0


@pytest.mark.integration
def test_silero_hears_speech_not_silence(speak, registry):
    detector = SileroDetector(registry.resolve("silero-vad"))
    speech = speak("This is a test of the speech detector.")
    frames = [speech[i : i + FRAME_SAMPLES] for i in range(0, len(speech) - FRAME_SAMPLES, FRAME_SAMPLES)]
    probs = [detector.probability(f) for f in frames]
    assert max(probs) > 0.9
    detector.reset()
    silent = [detector.probability(np.zeros(FRAME_SAMPLES, dtype=np.int16)) for _ in range(10)]
    assert max(silent) < 0.1


@pytest.mark.integration
def test_webrtc_and_gate_on_speech_and_quiet(speak):
    speech = speak("Hello there, how are you today?")
    frames = [speech[i : i + FRAME_SAMPLES] for i in range(0, len(speech) - FRAME_SAMPLES, FRAME_SAMPLES)]
    frame = max(frames, key=lambda f: float(np.abs(f.astype(np.float32)).mean()))  # the loudest
    assert WebRtcDetector().probability(frame) > 0.5
    gate = VoiceGate()
    assert gate.is_voice(frame)
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal(FRAME_SAMPLES) * 10).astype(np.int16)  # about -70 dBFS room noise
    assert not gate.is_voice(quiet)
