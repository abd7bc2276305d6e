"""The session bench's pure parts: where speech ends, when reply audio starts on the stream, the log lines."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.bench.stream import (
    energy_voicing,
    first_audio_after,
    parse_llm,
    parse_turn,
    reply_onset,
    speech_end_s,
    utterances,
)

RATE = 16000


def tone(seconds: float, level: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 220 * t) * level).astype(np.int16)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def test_speech_end_and_utterances_between_pauses() -> None:
    audio = np.concatenate([quiet(0.5), tone(2.5), quiet(0.8), tone(1.0), quiet(0.6), tone(3.0), quiet(1.0)])
    assert abs(speech_end_s(energy_voicing(audio)) - 8.4) < 0.03
    assert speech_end_s(energy_voicing(quiet(1.0))) == 0.0
    pieces = utterances(audio, energy_voicing(audio), min_s=2.0, max_s=6.0)
    assert [round(len(p) / RATE, 1) for p in pieces] == [2.7, 3.2]  # the 1 s one is too short; 0.1 s margins


def test_first_reply_audio_is_the_first_loud_sample_after_the_request() -> None:
    out_rate = 22050
    earcon = tone(0.1).tobytes()  # before the request ended: not the reply
    lead_in = np.zeros(441, dtype=np.int16).tobytes()  # 20 ms of near-silence Piper starts with
    reply = tone(0.5).tobytes()
    pcm = earcon + b"\0\0" * 100 + lead_in + reply
    arrivals = [(10.0, 0), (10.1, len(earcon)), (12.0, len(earcon) + 200)]
    assert first_audio_after(arrivals, pcm, after=11.0, rate=out_rate) == pytest.approx(12.0 + 442 / out_rate)
    assert first_audio_after(arrivals, pcm, after=13.0, rate=out_rate) is None
    odd = [(10.0, 0), (12.0, 3)]  # a read that split a sample
    assert first_audio_after(odd, tone(0.1).tobytes(), after=11.0, rate=out_rate) is not None


def test_a_reply_that_starts_before_the_speaker_finished_spoke_over_them() -> None:
    out_rate = 22050
    reply = tone(0.5).tobytes()
    arrivals = [(10.0, 0)]  # the request began at 9.0 and its speech ends at 10.5: the reply cut in
    assert reply_onset(arrivals, reply, listening=9.6, speech_end=10.5, rate=out_rate) == (None, True)
    later = [(11.0, 0)]
    onset, over = reply_onset(later, reply, listening=9.6, speech_end=10.5, rate=out_rate)
    assert not over and onset == pytest.approx(11.0, abs=0.01)


def test_turn_events_and_llm_lines_are_read_from_the_log() -> None:
    line = (
        "12:00:01 INFO appliance.runtime.app: event turn {'turn_id': 3, 'outcome': 'answered', 'transcript': 'Hi', "
        "'timings': {'stt_s': 0.21, 'llm_first_token_s': 0.18}}"
    )
    assert parse_turn(line) == {
        "turn_id": 3,
        "outcome": "answered",
        "transcript": "Hi",
        "timings": {"stt_s": 0.21, "llm_first_token_s": 0.18},
    }
    assert parse_turn("12:00:01 INFO appliance.runtime.app: event wake {'model': 'hey_jarvis'}") is None
    assert parse_llm(
        "INFO appliance.engines.llm.local: LLM turn: 412 prompt tokens, 57 evaluated, first token 0.2 s"
    ) == (412, 57)
