"""Whisper log-mel features, checked against faster-whisper's own extractor on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.audio import SAMPLE_RATE
from appliance.engines.melspec import (
    LogMel,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
)

EIGHT_S = 8 * SAMPLE_RATE


def test_slaney_mel_scale_is_linear_below_1khz_and_round_trips():
    assert hz_to_mel(500.0) == pytest.approx(7.5)
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    hz = np.array([0.0, 200.0, 999.0, 1000.0, 4321.0, 8000.0])
    assert mel_to_hz(hz_to_mel(hz)) == pytest.approx(hz)


def test_filterbank_shape_and_slaney_area():
    bank = mel_filterbank()
    assert bank.shape == (80, 201)
    assert (bank >= 0).all() and (bank.max(axis=1) > 0).all()  # every band sees some FFT bin
    # Slaney normalisation: each triangle's area in Hz is 1 (bins are 40 Hz apart)
    assert bank.sum(axis=1) * 40.0 == pytest.approx(np.ones(80), abs=0.1)


@pytest.mark.integration
def test_features_match_faster_whisper_on_real_speech(recording):
    from faster_whisper.feature_extractor import FeatureExtractor

    speech = recording("two-cities")[:EIGHT_S].astype(np.float32) / 32768.0
    short = recording("beckett")[: 3 * SAMPLE_RATE].astype(np.float32) / 32768.0
    padded = np.concatenate([np.zeros(EIGHT_S - len(short), dtype=np.float32), short])  # zeros in front
    ours = LogMel(EIGHT_S)
    reference = FeatureExtractor()
    for audio in (speech, padded):
        mine = ours(audio)
        theirs = reference(audio, padding=0)  # faster-whisper pads 160 zeros at the end by default
        assert mine.shape == theirs.shape == (80, 800)
        assert mine.dtype == np.float32
        assert np.abs(mine - theirs).max() < 1e-4


def test_window_length_is_checked_and_the_buffer_reused():
    features = LogMel(SAMPLE_RATE)
    tone = np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    first = features(tone).copy()
    features(np.zeros(SAMPLE_RATE, dtype=np.float32))
    assert np.array_equal(features(tone), first)  # no state leaks between calls
    assert first.shape == (80, 100)
    centres_hz = mel_to_hz(np.linspace(0, hz_to_mel(8000.0), 82))[1:-1]
    assert int(np.argmax(first[:, 50])) == int(np.argmin(np.abs(centres_hz - 440)))  # the 440 Hz band is loudest
    with pytest.raises(ValueError, match="expected 16000 samples"):
        features(tone[:-1])
