"""Turn orchestration with fakes: stages, speculation, barge-in, text turns, intents.

Each test runs the pipeline's own loop and posts front-end messages to its inbox,
then waits for a milestone (the pipeline idle, a stage, an attempt's audio), never a sleep.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from appliance.core.bus import Bus
from appliance.core.events import (
    Stage,
    StageChanged,
    Transcript,
    TurnFinished,
)
from appliance.settings import Settings
from appliance.voice.conversation import Conversation
from appliance.voice.inbox import Inbox
from appliance.voice.pipeline import Pipeline, strip_wake_words
from appliance.voice.reply import Intent

from .fakes import (
    FakeFrontEnd,
    FakeLlm,
    FakeStt,
    FakeTts,
    RecordingSink,
    began,
    ended,
    paused,
    post_all,
    resumed,
    timed_out,
    until,
    wake,
)


def make(reply: str = "It is noon. Have a nice day.", **kw):
    bus = Bus()
    settings = Settings()
    pipeline = Pipeline(
        settings=settings,
        frontend=FakeFrontEnd(),  # type: ignore[arg-type]
        inbox=Inbox(),
        stt=kw.get("stt", FakeStt()),
        llm=kw.get("llm", FakeLlm(reply)),
        tts=FakeTts(),
        sink=RecordingSink(),
        bus=bus,
        conversation=Conversation("system"),
        intents=kw.get("intents"),
    )
    pipeline.earcon = False
    return pipeline, bus


@pytest.fixture
async def running():
    """Start a made pipeline's loop; stopped when the test ends."""
    tasks = []

    def start(pipeline: Pipeline) -> Pipeline:
        tasks.append(asyncio.create_task(pipeline.run()))
        return pipeline

    yield start
    for task in tasks:
        task.cancel()


async def idle(pipeline: Pipeline) -> None:
    """A turn has started and finished."""
    await until(lambda: pipeline.turn is not None or pipeline.history, what="turn started")
    await pipeline.idle(timeout=5)


def attempt_ready(pipeline: Pipeline) -> bool:
    """The running turn's (speculative) attempt has finished producing its reply."""
    turn = pipeline.turn
    task = getattr(turn.attempt, "_task", None) if turn is not None else None
    return task is not None and task.done()


def finished(bus_sub) -> list[TurnFinished]:
    out = []
    while not bus_sub.queue.empty():
        ev = bus_sub.get_nowait()
        if isinstance(ev, TurnFinished):
            out.append(ev)
    return out


async def test_voice_turn_goes_through_every_stage(running):
    pipeline, bus = make()
    bus.bind(asyncio.get_running_loop())
    stages = bus.subscribe(StageChanged)
    transcripts = bus.subscribe(Transcript)
    done = bus.subscribe(TurnFinished)
    post_all(running(pipeline), wake(), began(), ended(at_s=3.0))
    await idle(pipeline)
    seen = []
    while not stages.queue.empty():
        seen.append(stages.get_nowait().stage)
    assert seen == [Stage.LISTENING, Stage.THINKING, Stage.SPEAKING, Stage.IDLE]
    assert transcripts.get_nowait().text == "what time is it"
    result = finished(done)[0]
    assert result.outcome == "answered"
    assert result.reply == "It is noon. Have a nice day."
    assert pipeline.tts.spoken == ["It is noon.", "Have a nice day."]
    assert pipeline.conversation.recent()[0].user == "what time is it"


async def test_a_sentence_said_twice_in_a_row_is_said_once(running):
    pipeline, _bus = make("The cat is a cat. The cat is a cat. Bye now.")
    post_all(running(pipeline), wake(), began(), ended(at_s=3.0))
    await idle(pipeline)
    assert pipeline.tts.spoken == ["The cat is a cat.", "Bye now."]
    assert pipeline.history[-1].reply == "The cat is a cat. Bye now."


async def test_speculation_is_reused_when_the_endpoint_confirms_it(running):
    pipeline, _bus = make()
    post_all(running(pipeline), wake(), began(), paused(audio_s=1.2))
    await until(lambda: attempt_ready(pipeline), what="speculative reply synthesized")
    assert pipeline.tts.spoken == ["It is noon.", "Have a nice day."]  # the work was done ...
    assert pipeline.sink.played == []  # ... but nothing is heard before the endpoint
    post_all(pipeline, ended(at_s=3.0, audio_s=1.6))
    await pipeline.idle(timeout=5)
    assert pipeline.stt.calls == [int(1.2 * 16000)]  # transcribed once, before the endpoint
    assert pipeline.history[-1].speculated
    assert pipeline.history[-1].outcome == "answered"


async def test_a_likely_end_is_confirmed_by_a_whole_transcript(running):
    pipeline, _bus = make()
    post_all(running(pipeline), wake(), began(), paused(audio_s=1.2), ended(at_s=3.0, semantic=True, provisional=True))
    await pipeline.idle(timeout=5)
    record = pipeline.history[-1]
    assert record.outcome == "answered" and record.endpoint_reopened == 0
    assert pipeline.frontend.confirmed == [1]  # the front end stops listening once the turn takes it
    assert pipeline.stt.calls == [int(1.2 * 16000)]


async def likely_end_heard_as(running, text: str) -> tuple[Pipeline, FakeStt]:
    """A request paused, speculatively transcribed as ``text``, then provisionally ended."""
    stt = FakeStt(text)
    pipeline, _bus = make(stt=stt)
    post_all(running(pipeline), wake(), began(), paused(audio_s=1.2), ended(at_s=3.0, semantic=True, provisional=True))
    await until(lambda: stt.calls, what="speculative transcript")
    return pipeline, stt


async def test_a_likely_end_on_an_open_word_listens_on(running):
    pipeline, stt = await likely_end_heard_as(running, "it was the age of")
    await asyncio.sleep(0.3)
    assert pipeline.frontend.confirmed == [] and pipeline.sink.played == []  # not answered: still listening
    stt.text = "it was the age of wisdom"
    post_all(pipeline, resumed(), paused(audio_s=2.0), ended(at_s=4.5, semantic=True, provisional=True))
    await pipeline.idle(timeout=5)
    record = pipeline.history[-1]
    assert record.transcript == "it was the age of wisdom" and record.outcome == "answered"
    assert record.endpoint_reopened == 1 and pipeline.frontend.confirmed == [1]


async def test_speech_resuming_after_a_taken_end_but_before_the_reply_is_heard_answers_the_whole_request(running):
    stt = FakeStt("it was the season of light")
    llm = FakeLlm(delay=0.2)  # the first sentence is still being written when the speaker goes on
    pipeline, _bus = make(stt=stt, llm=llm)
    post_all(running(pipeline), wake(), began(), paused(audio_s=1.2), ended(at_s=3.0, semantic=True, provisional=True))
    await until(lambda: llm.requests, what="the reply to the first half")
    assert pipeline.frontend.confirmed == []  # the front end listens on until the reply is ready
    stt.text = "it was the season of light it was the season of darkness"
    post_all(pipeline, resumed(), paused(audio_s=3.4), ended(at_s=5.0, semantic=True, provisional=True))
    await pipeline.idle(timeout=10)
    record = pipeline.history[-1]
    assert record.transcript == "it was the season of light it was the season of darkness"
    assert record.outcome == "answered" and record.endpoint_resumed == 1
    assert len(llm.requests) == 2  # the first reply was dropped
    assert pipeline.frontend.confirmed == [1]  # once, for the whole request
    assert pipeline.sink.played  # the reply to the whole request, and only it, was heard
    assert pipeline.tts.spoken[-2:] == ["It is noon.", "Have a nice day."]
    assert pipeline.conversation.recent()[-1].user == record.transcript


async def test_speech_resuming_once_the_reply_is_heard_does_not_take_it_back(running):
    pipeline, _bus = make()
    post_all(running(pipeline), wake(), began(), paused(audio_s=1.2), ended(at_s=3.0, semantic=True, provisional=True))
    await until(lambda: pipeline.frontend.confirmed, what="the reply ready to play")
    post_all(pipeline, resumed())  # the reply's own echo, or the speaker too late: barge-in's business
    await pipeline.idle(timeout=5)
    record = pipeline.history[-1]
    assert record.outcome == "answered" and record.endpoint_resumed == 0
    assert record.reply == "It is noon. Have a nice day."


async def test_speech_resuming_does_not_take_back_a_request_that_already_acts(running):
    acted: list[str] = []

    async def turn_off() -> str:
        acted.append("off")
        await asyncio.sleep(0.3)  # the action's reply is not ready when the speaker goes on
        return "The light is off."

    class Lights:
        def match(self, text: str) -> Intent | None:
            return Intent("light.off", "", action=turn_off) if "light" in text else None

    pipeline, _bus = make(stt=FakeStt("turn off the light"), intents=[Lights()])
    post_all(running(pipeline), wake(), began(), paused(audio_s=1.2), ended(at_s=3.0, semantic=True, provisional=True))
    await until(lambda: acted, what="the action")
    post_all(pipeline, resumed())
    await pipeline.idle(timeout=5)
    record = pipeline.history[-1]
    assert acted == ["off"] and record.endpoint_resumed == 0
    assert record.outcome == "answered" and record.reply == "The light is off."


class RecallingConversation(Conversation):
    """A conversation whose memory holds one fact that answers one question."""

    def answer(self, request: str) -> str | None:
        return "Anna's birthday is on the twelfth of March." if "birthday" in request else None


async def test_a_fact_that_answers_the_request_is_said_instead_of_asking_the_llm(running):
    llm = FakeLlm()
    pipeline, _bus = make(stt=FakeStt("when is anna's birthday"), llm=llm)
    pipeline.conversation = RecallingConversation("system")
    post_all(running(pipeline), wake(), began(), ended(at_s=3.0))
    await idle(pipeline)
    record = pipeline.history[-1]
    assert record.intent == "memory.answer" and record.reply == "Anna's birthday is on the twelfth of March."
    assert not llm.requests and pipeline.tts.spoken == ["Anna's birthday is on the twelfth of March."]


async def test_an_unconfirmed_likely_end_closes_at_the_longest_pause(running):
    pipeline, stt = await likely_end_heard_as(running, "add milk and")
    await asyncio.sleep(0.2)
    post_all(pipeline, ended(at_s=4.3))  # the front end's final end at vad.end_silence_max_s
    await pipeline.idle(timeout=5)
    record = pipeline.history[-1]
    assert record.outcome == "answered" and record.transcript == "add milk and"
    assert stt.calls == [int(1.2 * 16000)]  # the speculative transcript serves: no speech came after it


async def test_the_turn_record_says_whether_the_endpoint_was_semantic(running):
    pipeline, _bus = make()
    post_all(running(pipeline), wake(), began(), ended(at_s=3.0, semantic=True, turn_probability=0.87))
    await idle(pipeline)
    record = pipeline.history[-1]
    assert record.endpoint_semantic and record.turn_probability == 0.87
    assert record.timings()["endpoint_delay_s"] == pytest.approx(0.3, abs=0.01)


async def test_speculation_is_dropped_when_speech_resumes(running):
    stt = FakeStt()
    pipeline, _bus = make(stt=stt)
    post_all(running(pipeline), wake(), began(), paused(audio_s=1.0))
    await until(lambda: stt.calls == [16000], what="speculative transcription")
    stt.text = "what time is it in Tokyo"
    post_all(pipeline, resumed(), ended(at_s=4.0, audio_s=2.5))
    await idle(pipeline)
    assert stt.calls == [16000, 40000]
    assert pipeline.history[-1].transcript == "what time is it in Tokyo"
    assert not pipeline.history[-1].speculated


async def test_no_speech_ends_the_turn_quietly(running):
    pipeline, _bus = make()
    post_all(running(pipeline), wake(), timed_out())
    await idle(pipeline)
    assert pipeline.history[-1].outcome == "no-speech"
    assert pipeline.llm.requests == []


async def test_barge_in_stops_the_reply_and_listens_again(running):
    long_reply = " ".join(["This is a long sentence that keeps going."] * 8)
    pipeline, _bus = make(reply=long_reply)
    post_all(running(pipeline), wake(), began(), ended(at_s=3.0))
    await until(lambda: pipeline.stage == Stage.SPEAKING, what="speaking")
    post_all(pipeline, wake(capture_id=2, at_s=6.0))
    await until(lambda: pipeline.turn is not None and pipeline.turn.capture_id == 2, what="the new turn")
    assert pipeline.history[-1].outcome == "interrupted"
    assert pipeline.sink.stops >= 1
    assert pipeline.sink.queued_seconds() == pytest.approx(0, abs=0.05)
    assert pipeline.stage == Stage.LISTENING
    assert pipeline.turn is not None and pipeline.turn.capture_id == 2
    post_all(pipeline, timed_out(capture_id=2))
    await pipeline.idle(timeout=5)


async def test_ask_and_say_are_turns_too():
    pipeline, _bus = make(reply="Paris.")
    record = await asyncio.wait_for(pipeline.ask("What is the capital of France?"), 5)
    assert (record.outcome, record.reply) == ("answered", "Paris.")
    record = await asyncio.wait_for(pipeline.say("Hello."), 5)
    assert record.outcome == "answered"
    assert pipeline.tts.spoken[-1] == "Hello."


class LightIntent:
    def __init__(self) -> None:
        self.switched = 0

    def match(self, text: str):
        if "light" not in text:
            return None

        async def act() -> str:
            self.switched += 1
            return "The kitchen light is on."

        return Intent("light_on", "OK.", act)


async def test_intents_act_only_once_committed(running):
    intent = LightIntent()
    stt = FakeStt("turn on the kitchen light")
    pipeline, _bus = make(stt=stt, intents=[intent])
    post_all(running(pipeline), wake(), began(), paused())
    await until(
        lambda: pipeline.turn is not None and pipeline.turn.attempt is not None and pipeline.turn.attempt.intent,
        what="the intent matched speculatively",
    )
    assert intent.switched == 0  # speculative: nothing happens to the house yet
    post_all(pipeline, resumed(), paused(), ended(at_s=3.0))
    await idle(pipeline)
    assert intent.switched == 1
    assert pipeline.history[-1].reply == "The kitchen light is on."
    assert pipeline.llm.requests == []


def test_strip_wake_words():
    words = ("hey_jarvis", "alexa")
    assert strip_wake_words("Jarvis, what time is it?", words) == "What time is it?"
    assert strip_wake_words("Hey Jarvis what time is it", words) == "What time is it"
    assert strip_wake_words("What is Jarvis?", words) == "What is Jarvis?"
    assert strip_wake_words("Jarvis", words) == "Jarvis"


class BrokenLlm(FakeLlm):
    async def stream_reply(self, messages, cancel, may_run=None):
        from appliance.core.errors import LlmError

        raise LlmError("llm-failed", "the model crashed")
        yield ""  # pragma: no cover - makes this an async generator


async def test_a_failing_stage_is_reported_and_apologised_for():
    from appliance.core.events import ErrorRaised

    pipeline, bus = make(llm=BrokenLlm())
    errors = bus.subscribe(ErrorRaised)
    record = await asyncio.wait_for(pipeline.ask("Hello?"), 5)
    assert record.outcome == "failed"
    assert errors.get_nowait().code == "llm-failed"
    assert pipeline.tts.spoken[-1] == "Sorry, something went wrong."


async def test_an_alert_rings_until_stopped_and_interrupts_a_reply(running):
    long_reply = " ".join(["This is a long sentence that keeps going."] * 8)
    pipeline, _bus = make(reply=long_reply)
    post_all(running(pipeline), wake(), began(), ended(at_s=3.0))
    await until(lambda: pipeline.stage == Stage.SPEAKING, what="speaking")
    tone = np.full(1600, 1000, dtype=np.int16)
    queued: list[np.ndarray] = []
    play = pipeline.sink.play
    pipeline.sink.play = lambda samples, rate: (queued.append(samples), play(samples, rate))  # type: ignore[method-assign]
    ringing = asyncio.create_task(pipeline.alert("Your pasta timer is done.", tone, ring_s=60, every_s=0.05))
    await until(lambda: pipeline.history and pipeline.history[-1].outcome == "interrupted", what="reply interrupted")
    await until(lambda: sum(c is tone for c in queued) >= 2, what="rang twice")
    assert await pipeline.interrupt()  # the stop command, the button or a wake word
    record = await asyncio.wait_for(ringing, 5)
    assert record.source == "alert" and record.outcome == "interrupted"
    assert pipeline.tts.spoken.count("Your pasta timer is done.") == 1  # synthesized once, played each round


async def test_an_alert_rings_out_by_itself(running):
    pipeline, _bus = make()
    running(pipeline)
    tone = np.full(800, 1000, dtype=np.int16)
    record = await asyncio.wait_for(pipeline.alert("Reminder: bins.", tone, ring_s=0.5, every_s=0.05), 10)
    assert record.outcome == "answered" and pipeline.stage == Stage.IDLE


async def test_a_read_only_intent_is_answered_speculatively(running):
    class TimeIntent:
        def match(self, text: str):
            async def read() -> str:
                return "It's noon."

            return Intent("clock.time", "", read, pure=True)

    pipeline, _bus = make(stt=FakeStt("what time is it"), intents=[TimeIntent()])
    post_all(running(pipeline), wake(), began(), paused())
    await until(lambda: attempt_ready(pipeline), what="speculative answer synthesized")
    assert pipeline.tts.spoken == ["It's noon."] and pipeline.sink.played == []  # ready, not yet heard
    post_all(pipeline, ended(at_s=3.0))
    await idle(pipeline)
    assert pipeline.history[-1].speculated and pipeline.history[-1].reply == "It's noon."


async def test_forgetting_drops_the_texts_of_the_kept_turns():
    pipeline, _bus = make(reply="Paris.")
    await asyncio.wait_for(pipeline.ask("What is the capital of France?", speak=False), 5)
    pipeline.forget_texts()
    record = pipeline.history[-1]
    assert (record.transcript, record.reply, record.outcome) == ("", "", "answered")
