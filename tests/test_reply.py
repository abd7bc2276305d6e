"""A reply is bounded whatever the model does: its deadline, its queues, and text without control characters."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import numpy as np

from appliance.voice.reply import SENTENCES_AHEAD, ReplyAttempt

from .fakes import FakeLlm, FakeTts

CONTROL = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))}


class EndlessLlm(FakeLlm):
    """Writes numbered sentences until cancelled, ``delay`` seconds apart; counts what it wrote."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.written = 0

    def _words(self, cancel: threading.Event) -> Iterator[str]:
        while not cancel.is_set():
            self.written += 1
            if self.delay:
                time.sleep(self.delay)
            yield f"Sentence number {self.written} is here. "
        self.cancelled = True


class SlowTts(FakeTts):
    """Takes ``seconds`` per sentence and makes ``audio_s`` of audio of it."""

    def __init__(self, seconds: float, audio_s: float) -> None:
        super().__init__()
        self.seconds, self.audio_s = seconds, audio_s

    def synthesize_all(self, text: str) -> np.ndarray:
        self.spoken.append(text)
        time.sleep(self.seconds)
        return np.zeros(int(self.audio_s * self.sample_rate), dtype=np.int16)


async def answer(llm: FakeLlm, tts: FakeTts, reply_max_s: float | None, timeout: float = 10.0) -> ReplyAttempt:
    attempt = ReplyAttempt(
        llm=llm, tts=tts, messages_for=lambda _: [], intents=[], first_chunk_chars=0, reply_max_s=reply_max_s
    )
    attempt.start(text="Tell me everything.")
    attempt.commit()

    async def drain() -> None:
        async for _ in attempt.chunks():
            pass

    await asyncio.wait_for(drain(), timeout)
    await asyncio.wait_for(attempt.finished(), timeout)
    return attempt


async def test_a_model_that_writes_forever_stops_when_the_speech_reaches_the_deadline():
    llm, tts = EndlessLlm(), SlowTts(seconds=0.01, audio_s=0.4)
    start = time.monotonic()
    attempt = await answer(llm, tts, reply_max_s=2.0)
    assert time.monotonic() - start < 2.0  # 2 s of speech was ready well before the clock said so
    assert attempt.error is None and attempt.marks.llm_cut
    assert len(tts.spoken) == 5 and attempt.reply_text.endswith("number 5 is here.")  # 5 x 0.4 s, whole sentences
    written = llm.written
    await asyncio.sleep(0.3)
    assert llm.written == written  # the model was stopped


async def test_a_model_that_writes_forever_stops_at_the_deadline_by_the_clock():
    llm, tts = EndlessLlm(delay=0.05), SlowTts(seconds=0.0, audio_s=0.01)
    start = time.monotonic()
    attempt = await answer(llm, tts, reply_max_s=1.0)
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 1.5 and attempt.marks.llm_cut and attempt.error is None
    assert attempt.reply_text.endswith("is here.") and 10 <= len(tts.spoken) <= 21


async def test_a_model_far_ahead_of_the_voice_is_held_back():
    llm, tts = EndlessLlm(), SlowTts(seconds=0.05, audio_s=0.01)
    attempt = ReplyAttempt(llm=llm, tts=tts, messages_for=lambda _: [], intents=[], first_chunk_chars=0)
    attempt.start(text="Tell me everything.")
    attempt.commit()
    await asyncio.sleep(1.0)
    ahead = llm.written - len(tts.spoken)
    await attempt.abandon()
    assert ahead <= 64 + SENTENCES_AHEAD + 3  # the worker's queue, the sentences', and one in each hand


async def test_control_characters_reach_neither_the_voice_nor_the_reply():
    llm, tts = FakeLlm("Ring\x07ring,\tthe\x1b[31m code\x00 is\nready.\x9b Bye\x7f now."), FakeTts()
    attempt = await answer(llm, tts, reply_max_s=20.0)
    assert attempt.error is None
    assert attempt.reply_text == "Ringring, the code is ready. Bye now."
    assert tts.spoken and not CONTROL & set("".join(tts.spoken))


async def test_a_control_character_in_the_request_is_dropped_too():
    attempt = ReplyAttempt(llm=FakeLlm(), tts=FakeTts(), messages_for=lambda _: [], intents=[], first_chunk_chars=0)
    attempt.start(text="What\x00 time\x1b is it?")
    attempt.commit()
    await asyncio.wait_for(attempt.finished(), 10)
    assert attempt.transcript == "What time is it?"
