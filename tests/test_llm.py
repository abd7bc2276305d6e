"""The LLM adapter on the real SmolLM2 GGUF: scoring candidate replies (the home tool path's decision)."""

from __future__ import annotations

import threading

import pytest

from appliance.engines.llm.local import LlamaLlm

pytestmark = pytest.mark.integration

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
ANSWERS = ["The capital of France is Paris.", "The capital of France is Berlin.", "Bananas are yellow."]


def test_scores_prefer_the_right_answer(engines) -> None:
    llm: LlamaLlm = engines.llm
    paris, berlin, bananas = llm.score_continuations(QUESTION, ANSWERS)
    assert paris > berlin and paris > bananas and max(paris, berlin, bananas) < 0  # log-probabilities


def test_scores_do_not_depend_on_what_came_before(engines) -> None:
    llm: LlamaLlm = engines.llm
    first = llm.score_continuations(QUESTION, ANSWERS)
    chat = [*llm.system_messages(), {"role": "user", "content": "Tell me a short story about a fox."}]
    story = "".join(llm.stream(chat, threading.Event(), max_tokens=24))
    assert story  # a conversation in between fills the KV cache with something else
    assert llm.score_continuations(QUESTION, ANSWERS) == first  # exactly: the prompt is evaluated afresh
    assert "".join(llm.stream(chat, threading.Event(), max_tokens=24))  # and conversation goes on after it


def test_generation_leaves_cores_for_the_audio_and_speech_engines() -> None:
    import os

    from appliance.engines.llm.options import generation_threads
    from appliance.settings import LlmSettings

    cores = os.cpu_count() or 1
    assert generation_threads(LlmSettings()) == (max(1, cores // 2), cores)
    assert generation_threads(LlmSettings(n_threads=3)) == (3, 3)  # set explicitly: both


def test_a_reply_starts_on_every_core_and_goes_on_beside_the_voice_on_half(engines) -> None:
    import llama_cpp

    llm: LlamaLlm = engines.llm
    per_token, every = llm._threads
    ctx = llm._llama.ctx
    may_run = threading.Event()
    may_run.set()
    seen: list[tuple[int, int]] = []
    chat = [*llm.system_messages(), {"role": "user", "content": "Tell me a short story about a fox."}]
    for i, _piece in enumerate(llm.stream(chat, threading.Event(), max_tokens=12, may_run=may_run)):
        seen.append((llama_cpp.llama_n_threads(ctx), llama_cpp.llama_n_threads_batch(ctx)))
        if i == 3:  # the first phrase goes to the voice: the reply pauses, then goes on beside it
            may_run.clear()
            threading.Timer(0.1, may_run.set).start()
    assert len(seen) >= 6
    assert seen[0] == (every, every)  # the prompt and first tokens: nothing else runs
    assert seen[-1] == (per_token, every)
    llm.prefill([*chat, {"role": "assistant", "content": "Once."}])  # while the user talks: half the cores
    assert (llama_cpp.llama_n_threads(ctx), llama_cpp.llama_n_threads_batch(ctx)) == (per_token, per_token)


def test_a_reply_is_never_an_earlier_reply_again(engines) -> None:
    from appliance.core.chunker import plain_text as _plain
    from appliance.engines.llm.local import COPY_CHARS

    llm: LlamaLlm = engines.llm
    ask = [*llm.system_messages(), *QUESTION]
    first = "".join(llm.stream(ask, threading.Event(), max_tokens=24))
    assert len(_plain(first)) >= 12
    again = [*ask, {"role": "assistant", "content": first}, *QUESTION]  # the same question once more
    second = "".join(llm.stream(again, threading.Event(), max_tokens=24))
    assert second.strip()
    assert not _plain(second).startswith(_plain(first)[:COPY_CHARS])
    assert llm.last.copies_dropped >= 1  # greedy SmolLM2 repeats itself word for word here


def test_a_long_request_is_not_echoed_back(engines) -> None:
    llm: LlamaLlm = engines.llm
    chat = [*llm.system_messages(), {"role": "user", "content": "That was the epoch of incredulity."}]
    said = "".join(llm.stream(chat, threading.Event(), max_tokens=16)).strip()
    assert said and not said.startswith("That")  # its first token is barred: no echo to catch and redo
    assert llm.last.copies_dropped == 0
    short = [*llm.system_messages(), {"role": "user", "content": "Good morning."}]
    assert "".join(llm.stream(short, threading.Event(), max_tokens=8)).strip()  # a greeting may be returned


def test_a_reply_that_repeats_itself_is_cut_off(engines, monkeypatch) -> None:
    llm: LlamaLlm = engines.llm

    def looping(**kwargs):
        for _ in range(40):
            for piece in ("A", " cat", " is", " a", " cat", ","):
                yield {"choices": [{"text": piece}]}

    monkeypatch.setattr(llm._llama, "create_completion", looping)  # what SmolLM2 did in a session
    said = "".join(llm.stream([*llm.system_messages(), *QUESTION], threading.Event()))
    assert llm.last.looped and said.count("cat is a cat") <= 3


def test_a_reply_does_not_start_by_repeating_the_request() -> None:
    from appliance.engines.llm.local import COPY_CHARS, _reply_starts

    request = "(Notes, not from the user: It is Wednesday evening.)\n\nWho wrote Romeo and Juliet?"
    starts = _reply_starts([{"role": "system", "content": "Be brief."}, {"role": "user", "content": request}])
    assert starts == ["who wrote romeo and juliet?"[:COPY_CHARS]]  # the words, not the notes
