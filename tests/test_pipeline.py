"""Turn orchestration with fakes: stages, speculation, barge-in, text turns, intents."""

from __future__ import annotations

import asyncio

import pytest

from appliance.bus import Bus
from appliance.conversation import Conversation
from appliance.events import Stage, StageChanged, Transcript, TurnFinished
from appliance.pipeline import Pipeline, strip_wake_words
from appliance.reply import Intent
from appliance.settings import Settings

from .fakes import FakeFrontEnd, FakeLlm, FakeStt, FakeTts, RecordingSink, fe_event, wait_for


def make(reply: str = "It is noon. Have a nice day.", **kw):
    bus = Bus()
    settings = Settings()
    pipeline = Pipeline(
        settings=settings,
        frontend=FakeFrontEnd(),  # type: ignore[arg-type]
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


async def run_events(pipeline: Pipeline, *events) -> None:
    for ev in events:
        await pipeline._dispatch(ev)
        await asyncio.sleep(0.02)


def finished(bus_sub) -> list[TurnFinished]:
    out = []
    while not bus_sub.queue.empty():
        ev = bus_sub.get_nowait()
        if isinstance(ev, TurnFinished):
            out.append(ev)
    return out


async def test_voice_turn_goes_through_every_stage():
    pipeline, bus = make()
    bus.bind(asyncio.get_running_loop())
    stages = bus.subscribe(StageChanged)
    transcripts = bus.subscribe(Transcript)
    done = bus.subscribe(TurnFinished)
    await run_events(pipeline, fe_event("wake"), fe_event("started"), fe_event("ended", at_s=3.0))
    await wait_for(lambda: pipeline.turn is None)
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


async def test_speculation_is_reused_when_the_endpoint_confirms_it():
    pipeline, _bus = make()
    await run_events(pipeline, fe_event("wake"), fe_event("started"), fe_event("speculate", audio_s=1.2))
    await asyncio.sleep(0.3)  # the attempt transcribes and synthesizes, but plays nothing yet
    assert pipeline.sink.played == []
    await run_events(pipeline, fe_event("ended", at_s=3.0, audio_s=1.6))
    await wait_for(lambda: pipeline.turn is None)
    assert pipeline.stt.calls == [int(1.2 * 16000)]  # transcribed once, before the endpoint
    assert pipeline.history[-1].speculated
    assert pipeline.history[-1].outcome == "answered"


async def test_speculation_is_dropped_when_speech_resumes():
    stt = FakeStt()
    pipeline, _bus = make(stt=stt)
    await run_events(pipeline, fe_event("wake"), fe_event("started"), fe_event("speculate", audio_s=1.0))
    await asyncio.sleep(0.1)
    stt.text = "what time is it in Tokyo"
    await run_events(pipeline, fe_event("resumed"), fe_event("ended", at_s=4.0, audio_s=2.5))
    await wait_for(lambda: pipeline.turn is None)
    assert stt.calls == [16000, 40000]
    assert pipeline.history[-1].transcript == "what time is it in Tokyo"
    assert not pipeline.history[-1].speculated


async def test_no_speech_ends_the_turn_quietly():
    pipeline, _bus = make()
    await run_events(pipeline, fe_event("wake"), fe_event("timeout"))
    await wait_for(lambda: pipeline.turn is None)
    assert pipeline.history[-1].outcome == "no-speech"
    assert pipeline.llm.requests == []


async def test_barge_in_stops_the_reply_and_listens_again():
    long_reply = " ".join(["This is a long sentence that keeps going."] * 8)
    pipeline, _bus = make(reply=long_reply)
    await run_events(pipeline, fe_event("wake"), fe_event("started"), fe_event("ended", at_s=3.0))
    await wait_for(lambda: pipeline.stage == Stage.SPEAKING)
    assert pipeline.frontend.during_reply
    await run_events(pipeline, fe_event("wake", capture_id=2, at_s=6.0))
    assert pipeline.history[-1].outcome == "interrupted"
    assert pipeline.sink.stops >= 1
    assert pipeline.sink.queued_seconds() == pytest.approx(0, abs=0.05)
    assert pipeline.stage == Stage.LISTENING
    assert pipeline.turn is not None and pipeline.turn.capture_id == 2
    await run_events(pipeline, fe_event("timeout", capture_id=2))
    await wait_for(lambda: pipeline.turn is None)


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


async def test_intents_act_only_once_committed():
    intent = LightIntent()
    stt = FakeStt("turn on the kitchen light")
    pipeline, _bus = make(stt=stt, intents=[intent])
    await run_events(pipeline, fe_event("wake"), fe_event("started"), fe_event("speculate"))
    await asyncio.sleep(0.2)
    assert intent.switched == 0  # speculative: nothing happens to the house yet
    await run_events(pipeline, fe_event("resumed"), fe_event("speculate"), fe_event("ended", at_s=3.0))
    await wait_for(lambda: pipeline.turn is None)
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
        from appliance.errors import LlmError

        raise LlmError("llm-failed", "the model crashed")
        yield ""  # pragma: no cover - makes this an async generator


async def test_a_failing_stage_is_reported_and_apologised_for():
    from appliance.events import ErrorRaised

    pipeline, bus = make(llm=BrokenLlm())
    errors = bus.subscribe(ErrorRaised)
    record = await asyncio.wait_for(pipeline.ask("Hello?"), 5)
    assert record.outcome == "failed"
    assert errors.get_nowait().code == "llm-failed"
    assert pipeline.tts.spoken[-1] == "Sorry, something went wrong."
