"""Speaking on the sink: what is said is played and waited for, and a lost device is ``playback-lost``."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from appliance.core.errors import AudioError
from appliance.voice.speech import Speech

from .fakes import FakeTts, RecordingSink


class GoneSink(RecordingSink):
    """A sink whose device is gone: everything played is counted as lost."""

    def _accepting(self) -> bool:
        return False


async def test_speech_is_synthesized_played_and_waited_for():
    sink, tts = RecordingSink(realtime=False), FakeTts()
    speech = Speech(sink, tts.sample_rate, failure="could not say it")
    await asyncio.wait_for(speech.say(tts, "Hello."), 5)
    assert tts.spoken == ["Hello."] and speech.first_audio_mono is not None
    await asyncio.wait_for(speech.heard(), 5)
    assert sum(len(block) for block in sink.played) == int(0.06 * len("Hello.") * tts.sample_rate)


async def test_speech_that_never_reached_the_device_is_playback_lost():
    sink = GoneSink(realtime=False)
    speech = Speech(sink, 16000, failure="could not say it")
    speech.play(np.ones(1600, np.int16))
    with pytest.raises(AudioError) as lost:
        await asyncio.wait_for(speech.heard(), 5)
    assert lost.value.code == "playback-lost"
    assert lost.value.message == "could not say it: the playback device was lost"


async def test_audio_lost_before_the_speech_began_is_not_its_loss():
    sink = GoneSink(realtime=False)
    sink.play(np.ones(1600, np.int16), 16000)  # an earlier sound, lost while the device was gone
    speech = Speech(sink, 16000, failure="could not say it")
    await asyncio.wait_for(speech.heard(), 5)  # nothing of this speech was queued, so nothing of it was lost
