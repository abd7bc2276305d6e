"""Endpointing decisions with plain numbers, and the real speech detectors on real audio."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.audio import FRAME_SAMPLES
from appliance.engines.vad import (
    Segmenter,
    SegmentEvent,
    SileroDetector,
    VoiceGate,
    WebRtcDetector,
)

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


def semantic(*, on: bool = True, confirm: bool = False, unsure: float = 1.0) -> Segmenter:
    """A segmenter with a turn model: asked at 0.15 s, closes at 0.2 s (complete) or 1.5 s (not)."""
    return Segmenter(
        confirm_semantic=confirm,
        unsure_threshold=unsure,
        speech_start_s=0.15,
        speculate_after_s=0.15,
        semantic=on,
        turn_check_s=0.15,
        end_silence_s=0.6,
        end_silence_min_s=0.2,
        end_silence_max_s=1.5,
    )


def silent_frames(seg: Segmenter, count: int) -> list[SegmentEvent | None]:
    return [seg.process(F, False) for _ in range(count)]


def test_complete_verdict_closes_at_the_minimum_silence():
    seg = semantic()
    run(seg, "SSSS")
    assert silent_frames(seg, 2) == [None, SegmentEvent.SPECULATE]  # 0.16 s: speculate, and ask
    assert seg.due_turn_check() == 0
    assert seg.due_turn_check() is None  # once per pause
    assert not seg.awaiting_verdict  # 0.16 s < 0.2 s: nothing hangs on it yet
    assert seg.turn_verdict(0, 0.9) is None
    assert silent_frames(seg, 1) == [SegmentEvent.ENDED]  # 0.24 s, the first frame past 0.2 s
    assert seg.semantic_end and seg.turn_probability == 0.9


def test_a_verdict_arriving_late_closes_at_once():
    seg = semantic()
    run(seg, "SSSS..")
    assert seg.due_turn_check() == 0
    assert silent_frames(seg, 2) == [None, None]  # 0.32 s, still no answer: waiting (up to 1.5 s)
    assert seg.awaiting_verdict
    assert seg.turn_verdict(0, 0.95) == SegmentEvent.ENDED
    assert seg.finished and seg.semantic_end


def test_incomplete_verdict_waits_up_to_the_maximum_silence():
    seg = semantic()
    run(seg, "SSSS..")
    assert seg.turn_verdict(seg.due_turn_check() or 0, 0.7) is None  # below vad.smart_turn_threshold = 0.8
    events = silent_frames(seg, 20)
    # 1.5 s of silence = 18.75 frames: the 19th silent frame (the 17th here) closes it
    assert events.index(SegmentEvent.ENDED) == 16
    assert not seg.semantic_end and seg.turn_probability == 0.7


def test_speech_resuming_starts_a_new_pause_and_a_new_question():
    seg = semantic()
    run(seg, "SSSS..")
    first = seg.due_turn_check()
    assert seg.turn_verdict(first or 0, 0.1) is None
    assert run(seg, "......SS") == [(6, SegmentEvent.RESUMED)]  # 0.64 s of pause: no cut-off
    assert seg.turn_probability is None
    assert seg.turn_verdict(first or 0, 0.99) is None  # a stale answer about the old pause is ignored
    run(seg, "..")
    second = seg.due_turn_check()
    assert second == 1
    assert seg.turn_verdict(second, 0.85) is None
    assert silent_frames(seg, 1) == [SegmentEvent.ENDED]
    assert seg.semantic_end and seg.speech_end_s == pytest.approx(14 * F)


def test_a_confirmed_likely_end_finishes_the_request():
    seg = semantic(confirm=True)
    run(seg, "SSSS..")
    assert seg.turn_verdict(seg.due_turn_check() or 0, 0.9) is None
    assert silent_frames(seg, 1) == [SegmentEvent.LIKELY_ENDED]  # 0.24 s: provisional, still listening
    assert not seg.finished and seg.provisional and seg.semantic_end
    assert silent_frames(seg, 3) == [None, None, None]  # nothing more while the transcript is checked
    assert seg.confirm() and seg.finished
    assert not seg.confirm()  # once


def test_speech_after_a_likely_end_resumes_the_request():
    seg = semantic(confirm=True)
    run(seg, "SSSS..")
    seg.turn_verdict(seg.due_turn_check() or 0, 0.9)
    assert silent_frames(seg, 1) == [SegmentEvent.LIKELY_ENDED]
    assert run(seg, "..S") == [(2, SegmentEvent.RESUMED)]  # "it was the age of ... wisdom"
    assert not seg.provisional and not seg.semantic_end and not seg.confirm()
    assert seg.due_turn_check() is None  # a new pause asks anew
    run(seg, "..")
    assert seg.due_turn_check() == 1


def test_an_unconfirmed_likely_end_closes_at_the_maximum():
    seg = semantic(confirm=True)
    run(seg, "SSSS..")
    seg.turn_verdict(seg.due_turn_check() or 0, 0.9)
    events = silent_frames(seg, 20)
    assert events[0] == SegmentEvent.LIKELY_ENDED and events.index(SegmentEvent.ENDED) == 16  # 1.5 s
    assert seg.finished and not seg.semantic_end


def test_an_unsure_verdict_ends_provisionally_at_the_fixed_silence_for_the_transcript_to_decide():
    seg = semantic(confirm=True, unsure=0.5)
    run(seg, "SSSS..")
    assert seg.turn_verdict(seg.due_turn_check() or 0, 0.58) is None  # "Where's the spare key for the shed?"
    events = silent_frames(seg, 6)
    # 0.6 s of silence = 7.5 frames: the 8th silent frame (the 6th here) ends it, provisionally
    assert events.index(SegmentEvent.LIKELY_ENDED) == 5 and seg.provisional and not seg.finished
    assert seg.confirm() and seg.finished and seg.semantic_end

    unconfirmed = semantic(confirm=True, unsure=0.5)
    run(unconfirmed, "SSSS..")
    unconfirmed.turn_verdict(unconfirmed.due_turn_check() or 0, 0.58)
    events = silent_frames(unconfirmed, 20)  # the transcript stopped on "of": the pause runs to 1.5 s
    assert events.index(SegmentEvent.LIKELY_ENDED) == 5 and events.index(SegmentEvent.ENDED) == 16
    assert not unconfirmed.semantic_end

    for seg in (semantic(confirm=True, unsure=0.5), semantic(unsure=0.5)):  # too unsure, or nothing to check it
        run(seg, "SSSS..")
        seg.turn_verdict(seg.due_turn_check() or 0, 0.45 if seg.confirm_semantic else 0.58)
        events = silent_frames(seg, 20)
        assert SegmentEvent.LIKELY_ENDED not in events and events.index(SegmentEvent.ENDED) == 16


def test_a_pause_judged_unfinished_is_asked_about_again_later():
    seg = semantic(confirm=True, unsure=0.5)
    seg.turn_recheck_s = 0.4
    run(seg, "SSSS..")
    assert seg.turn_verdict(seg.due_turn_check() or 0, 0.32) is None  # 0.16 s: sounds unfinished
    assert silent_frames(seg, 2) == [None, None] and seg.due_turn_check() is None  # 0.32 s
    silent_frames(seg, 1)
    again = seg.due_turn_check()  # 0.40 s: a second opinion, with more of the pause heard
    assert again == 0 and seg.due_turn_check() is None
    assert seg.awaiting_verdict  # the front end takes the answer within the frame, as the first one's
    assert seg.turn_verdict(again, 0.84) == SegmentEvent.LIKELY_ENDED  # at once, for the transcript to decide
    assert seg.provisional and seg.turn_probability == 0.84

    still = semantic(confirm=True, unsure=0.5)
    still.turn_recheck_s = 0.4
    run(still, "SSSS..")
    still.turn_verdict(still.due_turn_check() or 0, 0.32)
    silent_frames(still, 3)
    still.turn_verdict(still.due_turn_check() or 0, 0.2)
    events = silent_frames(still, 20)
    assert SegmentEvent.LIKELY_ENDED not in events and events.index(SegmentEvent.ENDED) == 13  # 1.5 s all the same
    assert still.due_turn_check() is None

    once = semantic(confirm=True, unsure=0.5)  # turn_recheck_s = 0: asked once per pause
    alone = semantic()  # no transcript to check a second opinion: asked once
    alone.turn_recheck_s = 0.4
    for seg in (once, alone):
        run(seg, "SSSS..")
        seg.turn_verdict(seg.due_turn_check() or 0, 0.32)
        silent_frames(seg, 3)
        assert seg.due_turn_check() is None


def test_a_failed_verdict_falls_back_to_the_fixed_endpoint():
    seg = semantic()
    run(seg, "SSSS..")
    assert seg.turn_verdict(seg.due_turn_check() or 0, None) is None
    events = silent_frames(seg, 10)
    assert events.index(SegmentEvent.ENDED) == 5  # 0.6 s = the 8th silent frame, as without a model
    assert not seg.semantic_end


def test_without_a_turn_model_the_endpoint_is_the_fixed_silence():
    for seg in (Segmenter(speech_start_s=0.15, end_silence_s=0.6, speculate_after_s=0), semantic(on=False)):
        events = run(seg, "SSSS" + "." * 8)
        assert seg.due_turn_check() is None
        assert events[-1] == (11, SegmentEvent.ENDED)
        assert not seg.semantic_end and seg.turn_probability is None


def test_no_answer_at_all_closes_at_the_maximum():
    seg = semantic()
    events = run(seg, "SSSS" + "." * 20)
    assert seg.due_turn_check() is None  # (asked on the way: the caller polled too late here)
    assert events[-1] == (4 + 18, SegmentEvent.ENDED)


def test_from_settings_asks_at_the_speculation_point_or_the_minimum():
    from appliance.settings import VadSettings

    assert Segmenter.from_settings(VadSettings(), semantic=True).turn_check_s == 0.08
    assert Segmenter.from_settings(VadSettings(speculate_after_s=0.0), semantic=True).turn_check_s == 0.2
    assert Segmenter.from_settings(VadSettings(speculate_after_s=0.4), semantic=True).turn_check_s == 0.2
    assert not Segmenter.from_settings(VadSettings()).semantic


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
