"""Playback that degrades: a lost device is reported and reopened, the queue is bounded, lost audio is counted."""

from __future__ import annotations

import time

import numpy as np
import pytest

from appliance.audio import speaker as sink_module
from appliance.audio.sink import NullSink
from appliance.audio.speaker import SpeakerSink, reopen_delay

from .fakes import FlakyOutputDevice


def wait_for(predicate, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        time.sleep(0.01)


@pytest.fixture
def fast_watch(monkeypatch):
    monkeypatch.setattr(sink_module, "WATCH_S", 0.01)
    monkeypatch.setattr(sink_module, "REOPEN_DELAYS_S", (0.02, 0.05, 0.1))


def test_a_lost_device_is_reported_reopened_and_playback_resumes(fast_watch):
    device = FlakyOutputDevice()
    speaker = SpeakerSink("usb", stream_factory=device)
    errors: list[tuple[str, str]] = []
    speaker.on_error = lambda code, message: errors.append((code, message))
    try:
        speaker.play(np.full(1600, 7, np.int16), 16000)
        assert speaker.wait_done(5) and speaker.heard_since(0)

        mark = speaker.lost_samples
        speaker.play(np.full(16000 * 5, 8, np.int16), 16000)  # 5 s: still queued when the device goes
        device.gone = True
        device.streams[-1].fail()
        wait_for(lambda: speaker.lost, what="loss noticed")
        assert errors and errors[0][0] == "playback-lost" and "'usb'" in errors[0][1]
        assert speaker.wait_done(1)  # nobody waits for a speaker that is not there
        assert not speaker.heard_since(mark) and speaker.lost_samples > 0
        speaker.play(np.full(1600, 9, np.int16), 16000)  # while gone: counted as lost at once
        assert speaker.queued_seconds() == 0

        wait_for(lambda: device.failed_opens >= 3, what="retries with backoff")
        device.gone = False
        wait_for(lambda: not speaker.lost, what="reopened")
        assert speaker.reopened == 1 and device.opens == 2
        mark = speaker.lost_samples
        speaker.play(np.full(1600, 10, np.int16), 16000)
        assert speaker.wait_done(5) and speaker.heard_since(mark)
        assert any((block == 10).any() for block in device.streams[-1].played)  # playback resumed
    finally:
        speaker.close()


def test_reopen_delays_grow_and_then_repeat():
    delays = [reopen_delay(n) for n in range(10)]
    assert delays == sorted(delays) and delays[-1] == delays[-2] == sink_module.REOPEN_DELAYS_S[-1]


def test_the_queue_is_bounded_in_seconds_and_drops_the_oldest():
    sink = NullSink(realtime=True)
    sink.max_queue_s = 2.0
    try:
        for _ in range(10):  # 10 s of audio at once
            sink.play(np.full(16000, 1, np.int16), 16000)
        assert sink.queued_seconds() <= 2.0 + 0.05
        assert sink.dropped_chunks >= 7 and sink.lost_samples >= 7 * 16000
    finally:
        sink.stop()
        sink.close()


def test_barge_in_is_not_loss():
    sink = NullSink(realtime=True)
    try:
        sink.play(np.full(16000, 1, np.int16), 16000)
        sink.stop()
        assert sink.heard_since(0)
    finally:
        sink.close()


def test_a_volume_floor_keeps_an_earcon_audible_at_volume_0(tmp_path):
    from appliance.audio.sink import WavSink
    from appliance.audio.wav import read_wav

    sink = WavSink(tmp_path / "out.wav", volume=0)
    sink.play(np.full(1600, 10000, np.int16), 16000)  # at volume 0: silence
    sink.play(np.full(1600, 10000, np.int16), 16000, min_volume=50)  # the floor: a quarter of the amplitude
    sink.close()
    audio = read_wav(tmp_path / "out.wav")
    assert not audio[:1600].any() and int(audio[1600:].max()) == 2500
