"""A skill that acts says what it did only after doing it; what it will most likely say is synthesized meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from appliance.skills.engine import Skills
from appliance.skills.intents import SkillIntents
from appliance.skills.settings import SkillsSettings
from appliance.skills.store import FILENAME, SkillStore
from appliance.skills.voice import SkillContext
from appliance.voice.reply import ReplyAttempt

from .fakes import FakeLlm, FakeTts
from .test_skills_schedule import LONDON, NOW


class TimedTts(FakeTts):
    """Takes ``seconds`` per text; notes when each synthesis began."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.began: list[tuple[str, float]] = []

    def synthesize_all(self, text: str) -> np.ndarray:
        self.began.append((text, time.monotonic()))
        self.spoken.append(text)
        time.sleep(self.seconds)
        return np.ones(1600, dtype=np.int16)


@pytest.fixture
def skills(tmp_path: Path) -> Iterator[SkillIntents]:
    store = Skills(SkillStore(tmp_path / FILENAME), tz=LONDON, now=lambda: NOW).open()
    yield SkillIntents(SkillContext(store, SkillsSettings()))
    store.close()


async def reply(matcher: SkillIntents, text: str, tts: TimedTts, commit_after_s: float) -> tuple[ReplyAttempt, float]:
    """The attempt for ``text``, committed ``commit_after_s`` after it began, and when its first audio was ready."""
    attempt = ReplyAttempt(llm=FakeLlm(), tts=tts, messages_for=lambda _: [], intents=[matcher], first_chunk_chars=0)
    attempt.start(text=text)
    await asyncio.sleep(commit_after_s)
    committed = time.monotonic()
    attempt.commit()
    first = await asyncio.wait_for(attempt.audio.get(), 10)
    assert first is not None
    ready = time.monotonic()
    await asyncio.wait_for(attempt.finished(), 10)
    return attempt, ready - committed


async def test_a_timers_confirmation_is_ready_when_the_request_is_committed(skills: SkillIntents) -> None:
    tts = TimedTts(0.3)
    attempt, wait = await reply(skills, "set a timer for ten minutes", tts, commit_after_s=0.5)
    assert attempt.reply_text == "Timer set for 10 minutes."
    assert tts.spoken == ["Timer set for 10 minutes."]  # synthesized once, before the commit
    assert wait < 0.2  # not the 0.3 s synthesis after it
    assert skills.context.skills.timers()  # and the timer was started, once committed


async def test_nothing_acts_before_the_commit_though_its_answer_is_synthesized(skills: SkillIntents) -> None:
    tts = TimedTts(0.05)
    attempt = ReplyAttempt(llm=FakeLlm(), tts=tts, messages_for=lambda _: [], intents=[skills], first_chunk_chars=0)
    attempt.start(text="add eggs and flour to the shopping list")
    await asyncio.sleep(0.4)
    assert tts.spoken == ["Added eggs and flour to your shopping list."]
    assert skills.context.skills.list_show("shopping") == []
    await attempt.abandon()  # the speaker carried on: nothing was added, nothing is said
    assert skills.context.skills.list_show("shopping") == []
    assert attempt.reply_parts == []


async def test_a_wrong_guess_is_dropped_and_what_was_done_is_said(skills: SkillIntents) -> None:
    skills.context.skills.list_add("shopping", ["eggs"])
    tts = TimedTts(0.05)
    attempt = ReplyAttempt(llm=FakeLlm(), tts=tts, messages_for=lambda _: [], intents=[skills], first_chunk_chars=0)
    attempt.start(text="add flour to the shopping list")
    await asyncio.sleep(0.2)
    skills.context.skills.list_add("shopping", ["flour"])  # the list changed between the match and the commit
    attempt.commit()
    await asyncio.wait_for(attempt.finished(), 10)
    assert tts.spoken == ["Added flour to your shopping list.", "flour is already on your shopping list."]
    assert attempt.reply_text == "flour is already on your shopping list."


async def test_a_list_emptied_says_what_it_found(skills: SkillIntents) -> None:
    skills.context.skills.list_add("to-do", ["call the plumber"])
    tts = TimedTts(0.05)
    attempt, _ = await reply(skills, "clear everything off the to do list", tts, commit_after_s=0.2)
    assert attempt.reply_text == "Cleared your to-do list."
    assert tts.spoken == ["Cleared your to-do list."]
    assert skills.context.skills.list_show("to-do") == []
