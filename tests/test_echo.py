"""Echo cancellation on real audio: the real WebRTC AEC3, the real Piper voice, the real wake word and VAD.

The appliance's reply goes back into its microphone through a generated room
(a direct path after 30 ms, decaying noise after it) 6 dB louder than the
user's speech, on a simulated clock (:class:`~appliance.audio.room.SimulatedLoop`).
"""

from __future__ import annotations

import numpy as np
import pytest

from appliance.audio import SAMPLE_RATE
from appliance.audio.echo import (
    ACTIVE_AFTER_PLAY_S,
    EchoCanceller,
    cancels_echo,
    erle_db,
)
from appliance.audio.room import SimulatedLoop, dbfs, room_response
from appliance.engines.vad import load_detector
from appliance.settings import VadSettings
from appliance.voice.frontend import FrontEnd
from appliance.voice.messages import (
    CaptureTimedOut,
    FrontEndMessage,
    SpeechBegan,
    WakeHeard,
)

from .conftest import silence

SPEECH_DBFS = -30.0
REPLY_TEXT = (
    "Paris is the capital of France. It has been the country's largest city for centuries, and it sits on "
    "the river Seine, with famous museums like the Louvre and the Orsay, and of course the Eiffel tower."
)


def at_level(samples: np.ndarray, level_dbfs: float) -> np.ndarray:
    return (samples * 10 ** ((level_dbfs - dbfs(samples)) / 20)).astype(np.int16)


@pytest.fixture(scope="module")
def reply(voice) -> tuple[np.ndarray, int]:
    """A long reply as the sink plays it: Piper's rate, at the default 80 % volume."""
    audio = voice.synthesize_all(REPLY_TEXT)
    return (audio * 0.64).astype(np.int16), voice.sample_rate


def echo_gain(reply: tuple[np.ndarray, int], echo_db: float) -> float:
    return float(10 ** ((SPEECH_DBFS + echo_db - dbfs(reply[0])) / 20))


def test_auto_is_on_for_a_speaker_and_a_microphone_only():
    assert cancels_echo("auto", speaker=True, microphone="mic:default")
    assert not cancels_echo("auto", speaker=True, microphone="mic:Echo-Cancel Source")
    assert not cancels_echo("auto", speaker=True, microphone=None)  # a file or stdin
    assert not cancels_echo("auto", speaker=False, microphone="mic:default")
    assert cancels_echo("on", speaker=False, microphone=None)
    assert not cancels_echo("off", speaker=True, microphone="mic:default")


def test_a_reply_through_the_room_comes_out_20_db_quieter(reply):
    canceller = EchoCanceller()
    loop = SimulatedLoop(room_response(1), echo_gain=echo_gain(reply, 6.0), canceller=canceller)
    seconds = len(reply[0]) / reply[1] + 1.0
    mic, cleaned, _ = loop.run(*reply, silence(seconds), canceller.process, reply_at_s=0.5)
    settled = slice(int(1.5 * SAMPLE_RATE), int((seconds - 0.5) * SAMPLE_RATE))  # after a second to adapt
    assert erle_db(mic[settled], cleaned[settled]) >= 20.0
    assert canceller.near_end_frames == 0  # its own voice never counts as someone talking over it


def test_the_simulated_room_is_the_same_every_run(reply):
    """Same reply, same room, same noise: the same microphone signal (no dither seeded from the clock)."""
    first, second = (
        SimulatedLoop(room_response(2), echo_gain=echo_gain(reply, 6.0), canceller=None).run(
            *reply, silence(2.0), lambda frame, heard: None
        )[0]
        for _ in range(2)
    )
    assert dbfs(first) > SPEECH_DBFS  # the reply's echo is in it
    assert np.array_equal(first, second)


def test_silence_costs_nothing():
    canceller = EchoCanceller()
    frame = np.zeros(1280, dtype=np.int16)
    canceller.process(frame, 100.0)
    assert canceller.frames_processed == 0
    canceller.played(np.ones(320, dtype=np.int16), SAMPLE_RATE, 100.0)
    canceller.process(frame, 100.0 + ACTIVE_AFTER_PLAY_S)
    canceller.process(frame, 100.02 + ACTIVE_AFTER_PLAY_S + 0.1)
    assert canceller.frames_processed == 1


def front_end(wake_detector_factory, registry, messages: list[FrontEndMessage]) -> FrontEnd:
    vad = VadSettings()
    speech = load_detector(vad, registry.resolve)
    return FrontEnd(
        lambda: None,  # type: ignore[arg-type, return-value]
        wake_detector_factory(),
        speech,
        vad,
        messages.append,
        echo=EchoCanceller(),
    )


def feed(frontend: FrontEnd):
    """The loop's ``process``: one frame read, as the front end's thread would."""

    def process(frame: np.ndarray, heard: float) -> None:
        frontend.frames += 1
        frontend.process(frame, heard)

    return process


def test_hey_jarvis_over_a_reply_6_db_louder_is_heard(reply, speak, wake_detector_factory, registry):
    messages: list[FrontEndMessage] = []
    frontend = front_end(wake_detector_factory, registry, messages)
    assert frontend.echo is not None
    loop = SimulatedLoop(room_response(2), echo_gain=echo_gain(reply, 6.0), canceller=frontend.echo)
    seconds = len(reply[0]) / reply[1]
    # An earlier reply in the same room (the canceller has adapted, as it has on a device after the first one).
    loop.run(*reply, silence(seconds + 1.0), feed(frontend))
    assert not any(isinstance(m, WakeHeard | SpeechBegan) for m in messages)  # no self-wake, no echo as speech
    barge = np.concatenate([speak("Hey Jarvis."), silence(0.3), speak("What time is it?")])
    user = silence(7.0)
    start = int(3.0 * SAMPLE_RATE)  # 2.5 s into the reply
    user[start : start + len(barge)] = at_level(barge, SPEECH_DBFS)

    began_s = frontend.at_s
    step = feed(frontend)

    def process(frame: np.ndarray, heard: float) -> None:
        step(frame, heard)
        loop.stopped = loop.stopped or any(isinstance(m, WakeHeard) for m in messages)  # barge-in stops the reply

    loop.run(*reply, user, process, clock_s=seconds + 10.0)
    wakes = [m for m in messages if isinstance(m, WakeHeard)]
    assert len(wakes) == 1
    assert 3.0 < wakes[0].at_s - began_s < 3.0 + len(barge) / SAMPLE_RATE
    assert any(isinstance(m, SpeechBegan) for m in messages)  # the request after it is listened to


def test_the_doctor_check_finds_the_rooms_delay():
    from appliance.audio.echo_check import estimate_delay_s, sweep

    reference = np.concatenate([sweep(SAMPLE_RATE), silence(0.5)]).astype(np.float32)
    mic = np.convolve(reference, room_response(4, delay_s=0.045))[: len(reference)]
    delay, confidence = estimate_delay_s(reference, mic)
    assert delay == pytest.approx(0.045, abs=0.002) and confidence > 0.3


def test_the_vad_ignores_residual_echo(reply, wake_detector_factory, registry):
    """Listening for a request (push-to-talk) while a reply plays: the cleaned echo never opens it."""
    messages: list[FrontEndMessage] = []
    frontend = front_end(wake_detector_factory, registry, messages)
    assert frontend.echo is not None
    loop = SimulatedLoop(room_response(5), echo_gain=echo_gain(reply, 12.0), canceller=frontend.echo)
    seconds = len(reply[0]) / reply[1]
    loop.run(*reply, silence(seconds + 1.0), feed(frontend))  # the canceller adapts on a first reply
    frontend.request_capture()
    loop.run(*reply, silence(seconds), feed(frontend), reply_at_s=0.0, clock_s=seconds + 10.0)
    assert any(isinstance(m, CaptureTimedOut) for m in messages)
    assert not any(isinstance(m, SpeechBegan) for m in messages)
