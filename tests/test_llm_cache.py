"""The real SmolLM2 keeps its KV cache across a conversation's turns, scoring calls and prefills."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from appliance.engines.llm.local import LlamaLlm
from appliance.models.registry import ModelRegistry
from appliance.settings import LlmSettings
from appliance.voice.conversation import Conversation

pytestmark = pytest.mark.integration

REQUESTS = (
    "What is the capital of France?",
    "And how many people live there?",
    "Tell me a joke about cats.",
    "Tell me another one.",
    "How far away is the moon?",
    "And the sun?",
)
NEW_TOKENS_MAX = 80
"""A turn's notes and request, well below the whole prompt once there is some history."""


@pytest.fixture(scope="module")
def llm(registry: ModelRegistry) -> Iterator[LlamaLlm]:
    settings = LlmSettings(temperature=0.0, max_tokens=32)
    model = LlamaLlm(registry.resolve(settings.model), settings)
    yield model
    model._llama.close()


def conversation() -> Conversation:
    return Conversation(LlmSettings().system_prompt, max_turns=3, context=[lambda: "Someone is in the room."])


def turn(llm: LlamaLlm, chat: Conversation, request: str) -> str:
    reply = "".join(llm.stream(chat.messages(request), threading.Event())).strip()
    chat.add(request, " ".join(reply.split()))  # the pipeline speaks (and keeps) sentences joined anew
    return reply


def test_later_turns_evaluate_only_their_notes_and_request(llm: LlamaLlm) -> None:
    chat = conversation()
    llm.warm_up()
    counts = []
    for request in REQUESTS:  # six turns with a window of three: exchanges also leave the prompt
        assert turn(llm, chat, request)
        counts.append((llm.last.evaluated_tokens, llm.last.prompt_tokens))
    for evaluated, prompt in counts[1:]:
        assert evaluated < NEW_TOKENS_MAX, counts
    assert all(prompt > 3 * evaluated for evaluated, prompt in counts[3:]), counts


def test_a_scoring_call_between_turns_keeps_the_conversation_cache(llm: LlamaLlm) -> None:
    chat = conversation()
    for request in REQUESTS[:3]:
        turn(llm, chat, request)
    question = [{"role": "user", "content": "switch the kitchen light on"}]
    scores = llm.score_continuations(question, ["The light goes on.", "The light goes off."])
    turn(llm, chat, REQUESTS[3])
    assert llm.last.evaluated_tokens < NEW_TOKENS_MAX and llm.last.prompt_tokens > 3 * llm.last.evaluated_tokens
    assert llm.score_continuations(question, ["The light goes on.", "The light goes off."]) == scores


def test_a_prefill_while_the_user_speaks_leaves_only_the_request(llm: LlamaLlm) -> None:
    chat = conversation()
    for request in REQUESTS[:2]:
        turn(llm, chat, request)
    llm.score_continuations([{"role": "user", "content": "hi"}], ["Hello.", "Bye."])  # something else in between
    assert llm.prefill(chat.prefix_messages()) > 0
    assert llm.prefill(chat.prefix_messages()) == 0  # already there
    request = chat.messages(REQUESTS[2])[-1]["content"]
    turn(llm, chat, REQUESTS[2])
    assert llm.last.evaluated_tokens <= llm.count_tokens(request) + 8  # the user turn's closing and reply opening


def test_a_prefill_with_the_notes_opening_leaves_the_request_alone(llm: LlamaLlm) -> None:
    chat = conversation()  # a context provider: its fact is a note known before the request
    for request in REQUESTS[:2]:
        turn(llm, chat, request)
    opening = chat.user_opening()
    assert opening == "Someone is in the room."
    assert llm.prefill(chat.prefix_messages(), user_start=opening) > 0
    turn(llm, chat, REQUESTS[2])
    request_only = llm.count_tokens("\n\n" + REQUESTS[2])
    assert llm.last.evaluated_tokens <= request_only + 6, llm.last  # the close, the reply opening: nothing else


def test_a_cancelled_prefill_stops_and_the_turn_still_answers(llm: LlamaLlm) -> None:
    chat = conversation()
    cancel = threading.Event()
    cancel.set()
    assert llm.prefill([{"role": "system", "content": "A different system prompt. " * 20}], cancel) == 0
    assert turn(llm, chat, REQUESTS[0])
