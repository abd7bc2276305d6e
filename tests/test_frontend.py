"""The audio front end's decisions, driven frame by frame with scripted wake and speech detectors.

Each frame's content says what it is: the first sample carries a marker (1 = the
frame the wake word fires on, 2 = speech, 0 = silence) and the rest of the frame
its index, so a test can tell exactly which frames a request's audio holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from appliance.audio import FRAME_SAMPLES, FRAME_SECONDS
from appliance.audio.source import AudioSource
from appliance.engines.wake import Detection
from appliance.settings import VadSettings
from appliance.voice.frontend import WAKE_TAIL_S, FrontEnd, Mode
from appliance.voice.messages import (
    CaptureEnded,
    CaptureTimedOut,
    FrontEndMessage,
    SpeechBegan,
    SpeechPaused,
    SpeechResumed,
    WakeHeard,
)

from .fakes import FakeTurnModel

WAKE, SPEECH, SILENCE = 1, 2, 0


class ScriptedWake:
    """Fires on frames marked WAKE; counts what it was shown."""

    def __init__(self) -> None:
        self.names = ["hey_jarvis"]
        self.processed = 0
        self.observed = 0
        self.resets = 0

    def process(self, frame: np.ndarray, at_s: float) -> Detection | None:
        self.processed += 1
        return Detection("hey_jarvis", 0.9, at_s) if frame[0] == WAKE else None

    def observe(self, frame: np.ndarray) -> None:
        self.observed += 1

    def reset(self) -> None:
        self.resets += 1

    def restart(self) -> None:
        pass


class ScriptedSpeech:
    """Speech probability 1 on frames marked SPEECH (or WAKE: the wake phrase is speech too)."""

    def probability(self, frame: np.ndarray) -> float:
        return 1.0 if frame[0] in (SPEECH, WAKE) else 0.0

    def reset(self) -> None:
        pass


def frames(*runs: tuple[int, int]) -> list[np.ndarray]:
    """(marker, count) runs → frames (the rig writes each frame's index into it)."""
    out: list[np.ndarray] = []
    for marker, count in runs:
        for _ in range(count):
            frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
            frame[0] = marker
            out.append(frame)
    return out


class FrontEndRig:
    def __init__(self, turn: FakeTurnModel | None = None, *, confirm_ends: bool = False, **vad: Any) -> None:
        settings = VadSettings(**{"speech_start_s": 0.15, "end_silence_s": 0.6, "speculate_after_s": 0.15, **vad})
        self.messages: list[FrontEndMessage] = []
        self.wake = ScriptedWake()
        self.fe = FrontEnd(
            lambda: NoSource(),
            self.wake,  # type: ignore[arg-type]
            ScriptedSpeech(),  # type: ignore[arg-type]
            settings,
            self.messages.append,
            preroll_s=0.4,
            turn=turn,
            confirm_ends=confirm_ends,
        )

    def feed(self, frames: list[np.ndarray]) -> None:
        for frame in frames:
            frame = frame.copy()
            frame[1:] = self.fe.frames  # the frame's index on the whole timeline
            self.fe.frames += 1
            self.fe.process(frame)

    def of(self, kind: type) -> list:
        return [m for m in self.messages if isinstance(m, kind)]


class NoSource(AudioSource):
    name = "none"

    def read_into(self, out: np.ndarray, timeout: float = 1.0) -> bool:
        return False


def frame_indices(audio: np.ndarray) -> list[int]:
    """Which frames a request's audio was made of (by the index written into each)."""
    return sorted({int(audio[i * FRAME_SAMPLES + 1]) for i in range(len(audio) // FRAME_SAMPLES)})


def test_wake_then_request_then_endpoint():
    rig = FrontEndRig()
    rig.feed(frames((SILENCE, 10), (WAKE, 1), (SILENCE, 2), (SPEECH, 10), (SILENCE, 10)))
    wake, began, paused, ended = rig.of(WakeHeard), rig.of(SpeechBegan), rig.of(SpeechPaused), rig.of(CaptureEnded)
    assert len(wake) == 1 and wake[0].detection.model == "hey_jarvis"
    assert wake[0].at_s == 11 * FRAME_SECONDS
    assert len(began) == len(paused) == len(ended) == 1
    assert {m.capture_id for m in (*wake, *began, *paused, *ended)} == {wake[0].capture_id}
    speech = list(range(13, 23))
    assert set(speech) <= set(frame_indices(ended[0].audio))
    assert ended[0].speech_end_s == pytest.approx(23 * FRAME_SECONDS)
    assert not ended[0].max_length
    assert rig.fe.mode == Mode.WAKE and rig.wake.resets == 1


def test_pre_roll_never_reaches_back_past_the_wake_frame():
    """The 0.4 s pre-roll (5 frames) would include the wake word's own frame and before: it is clamped."""
    rig = FrontEndRig()
    rig.feed(frames((SILENCE, 10), (WAKE, 1), (SILENCE, 1), (SPEECH, 6), (SILENCE, 10)))
    audio = rig.of(CaptureEnded)[0].audio
    assert min(frame_indices(audio)) >= 10  # the wake frame at most, never the silence before it


def test_pre_roll_reaches_back_for_a_listen_command():
    rig = FrontEndRig()
    rig.feed(frames((SILENCE, 10)))
    rig.fe.request_capture()
    rig.feed(frames((SILENCE, 3), (SPEECH, 6), (SILENCE, 10)))
    audio = rig.of(CaptureEnded)[0].audio
    # speech began at frame 13; 0.15 s (2 frames) to confirm it + 0.4 s pre-roll (5 frames) before that
    assert min(frame_indices(audio)) == 13 - 5


def test_the_end_of_the_wake_phrase_is_not_the_request():
    """Speech running on from the wake word is ignored until a pause (or WAKE_TAIL_S)."""
    rig = FrontEndRig()
    tail_frames = int(WAKE_TAIL_S / FRAME_SECONDS) - 1
    rig.feed(frames((WAKE, 1), (SPEECH, tail_frames), (SILENCE, 1), (SPEECH, 5), (SILENCE, 10)))
    ended = rig.of(CaptureEnded)
    assert len(ended) == 1
    first_request_frame = 1 + tail_frames + 1
    assert rig.of(SpeechBegan)[0].at_s >= (first_request_frame + 2) * FRAME_SECONDS


def test_a_request_said_straight_after_the_wake_word_is_kept_whole():
    """No pause after the wake word (a barge-in): the tail runs out in speech, and the request's audio
    starts at the wake frame, not a pre-roll after the tail (which lost its first words)."""
    rig = FrontEndRig()
    rig.feed(frames((SILENCE, 10), (WAKE, 1), (SPEECH, 15), (SILENCE, 10)))
    audio = rig.of(CaptureEnded)[0].audio
    assert min(frame_indices(audio)) == 10  # the wake frame: every frame of the request after it
    assert set(range(11, 26)) <= set(frame_indices(audio))


def test_no_speech_times_out():
    rig = FrontEndRig(no_speech_timeout_s=1.0)
    rig.feed(frames((WAKE, 1), (SILENCE, 20)))
    assert len(rig.of(CaptureTimedOut)) == 1 and not rig.of(CaptureEnded)
    assert rig.fe.mode == Mode.WAKE


def test_a_cancelled_capture_ends_silently_and_wake_listening_resumes():
    rig = FrontEndRig()
    rig.feed(frames((WAKE, 1), (SILENCE, 2), (SPEECH, 3)))
    capture = rig.of(WakeHeard)[0].capture_id
    rig.fe.cancel_capture(capture + 1)  # another capture's id: this one carries on
    assert rig.fe.mode == Mode.CAPTURE
    rig.fe.cancel_capture(capture)
    assert rig.fe.mode == Mode.WAKE
    processed = rig.wake.processed
    rig.feed(frames((SPEECH, 3), (SILENCE, 10)))
    assert not rig.of(CaptureEnded)
    assert rig.wake.processed == processed + 13  # the wake word listens again


def test_while_capturing_the_wake_detector_only_observes():
    rig = FrontEndRig()
    rig.feed(frames((WAKE, 1)))
    processed = rig.wake.processed
    rig.feed(frames((SILENCE, 2), (SPEECH, 4), (WAKE, 1), (SILENCE, 3)))
    assert rig.fe.mode == Mode.CAPTURE
    assert rig.wake.processed == processed  # frames went to observe(), not to detection
    assert rig.wake.observed == 10 and len(rig.of(WakeHeard)) == 1


def test_mute_closes_the_source_and_unmute_resumes():
    opened: list[str] = []

    class Counting(NoSource):
        def open(self) -> None:
            opened.append("open")

    rig = FrontEndRig()
    rig.fe._source_factory = Counting
    rig.fe._step()
    assert rig.fe.source is not None and opened == ["open"]
    rig.fe.set_muted(True)
    rig.fe._step()
    assert rig.fe.mode == Mode.MUTED and rig.fe.source is None
    rig.fe.set_muted(False)
    rig.fe._step()
    assert rig.fe.mode == Mode.WAKE and rig.fe.source is not None and opened == ["open", "open"]


# -- semantic end of turn (a scripted turn model; the real one is in test_smart_turn.py) ----------
def ended_after(rig: FrontEndRig) -> float:
    """Seconds of silence between the request's last voiced frame and its endpoint."""
    (ended,) = rig.of(CaptureEnded)
    return round(ended.at_s - ended.speech_end_s, 2)


def test_a_request_judged_complete_ends_at_the_minimum_silence():
    model = FakeTurnModel(0.93)
    rig = FrontEndRig(model)
    rig.fe.request_capture()
    rig.feed(frames((SPEECH, 10), (SILENCE, 10)))
    assert ended_after(rig) == 0.24  # the first frame past vad.end_silence_min_s = 0.2 s
    (ended,) = rig.of(CaptureEnded)
    assert ended.semantic and ended.turn_probability == 0.93
    assert model.heard == [(10 + 2) * FRAME_SAMPLES]  # asked once, with the request so far (speech + 0.16 s)
    assert rig.fe.mode == Mode.WAKE


def test_a_pause_judged_unfinished_is_waited_out_and_the_next_pause_asked_again():
    model = FakeTurnModel(0.05, 0.85)
    rig = FrontEndRig(model)
    rig.fe.request_capture()
    rig.feed(frames((SPEECH, 6), (SILENCE, 10), (SPEECH, 6)))  # 0.8 s pause mid-sentence
    assert not rig.of(CaptureEnded)  # the fixed 0.6 s endpoint would have cut the speaker off here
    rig.feed(frames((SILENCE, 10)))
    assert ended_after(rig) == 0.24 and len(model.heard) == 2


def test_unfinished_then_silence_ends_at_the_maximum():
    rig = FrontEndRig(FakeTurnModel(0.05))
    rig.fe.request_capture()
    rig.feed(frames((SPEECH, 6), (SILENCE, 25)))
    assert ended_after(rig) == 1.52  # 19 frames: the first past vad.end_silence_max_s = 1.5 s
    assert not rig.of(CaptureEnded)[0].semantic


def test_a_likely_end_keeps_listening_until_the_turn_confirms_it():
    rig = FrontEndRig(FakeTurnModel(0.93), confirm_ends=True)
    capture = rig.fe.request_capture()
    rig.feed(frames((SPEECH, 10), (SILENCE, 3)))
    (likely,) = rig.of(CaptureEnded)
    assert likely.provisional and likely.semantic and round(likely.at_s - likely.speech_end_s, 2) == 0.24
    assert rig.fe.mode == Mode.CAPTURE  # still listening while the transcript is checked
    rig.fe.confirm_end(capture)
    rig.feed(frames((SILENCE, 1)))
    assert rig.fe.mode == Mode.WAKE and len(rig.of(CaptureEnded)) == 1


def test_speech_after_a_likely_end_resumes_the_same_request():
    rig = FrontEndRig(FakeTurnModel(0.93, 0.95), confirm_ends=True)
    rig.fe.request_capture()
    rig.feed(frames((SPEECH, 10), (SILENCE, 6), (SPEECH, 5)))  # "... the age of" 0.48 s "wisdom"
    assert rig.of(SpeechResumed) and rig.fe.mode == Mode.CAPTURE
    rig.feed(frames((SILENCE, 3)))
    first, second = rig.of(CaptureEnded)
    assert first.provisional and second.provisional
    assert set(range(16, 21)) <= set(frame_indices(second.audio))  # the words after the pause are in it


def test_an_unconfirmed_likely_end_closes_at_the_maximum():
    rig = FrontEndRig(FakeTurnModel(0.93), confirm_ends=True)
    rig.fe.request_capture()
    rig.feed(frames((SPEECH, 6), (SILENCE, 25)))
    likely, final = rig.of(CaptureEnded)
    assert likely.provisional and not final.provisional and not final.semantic
    assert round(final.at_s - final.speech_end_s, 2) == 1.52 and rig.fe.mode == Mode.WAKE


@pytest.mark.parametrize("turn", [None, FakeTurnModel(None)], ids=["no-model", "model-fails"])
def test_without_a_working_model_the_endpoint_is_the_fixed_silence(turn):
    rig = FrontEndRig(turn)
    rig.fe.request_capture()
    rig.feed(frames((SPEECH, 6), (SILENCE, 10)))
    assert ended_after(rig) == 0.64  # vad.end_silence_s = 0.6 s, as before semantic endpoints
    (ended,) = rig.of(CaptureEnded)
    assert not ended.semantic and ended.turn_probability is None


def test_turn_model_off_in_the_settings_is_never_asked():
    model = FakeTurnModel(0.99)
    rig = FrontEndRig(model, turn_model="off")
    rig.fe.request_capture()
    rig.feed(frames((SPEECH, 6), (SILENCE, 10)))
    assert ended_after(rig) == 0.64 and model.heard == []
