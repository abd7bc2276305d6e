"""The running conversation and the one list of context providers it shares with the memory."""

from __future__ import annotations

from pathlib import Path

from appliance.core.feature import ContextProvider
from appliance.memory.service import Memory
from appliance.memory.store import MemoryStore
from appliance.settings import LlmSettings, MemorySettings
from appliance.vision.presence import PresenceState, describe
from appliance.voice.conversation import Conversation, user_turn


class NoEmbedder:
    """Memory without retrieval or emotion never embeds anything."""

    name = "none"

    def embed(self, text: str) -> list[float]:
        raise AssertionError("not expected to embed")


def test_a_face_only_sighting_tells_both_prompts_someone_is_there(tmp_path: Path) -> None:
    face_only = PresenceState(present=True, faces=1, people=0, last_seen=99.0, since=90.0)
    context: list[ContextProvider] = [lambda: describe(face_only, 100.0)]
    conversation = Conversation("Be brief.", context=context)
    memory = Memory(
        MemorySettings(memories=0, emotion=False),
        LlmSettings(system_prompt="Be brief."),
        MemoryStore(tmp_path / "memory.db"),
        NoEmbedder(),  # type: ignore[arg-type]
        lambda text: len(text.split()),
        context=context,
    )
    for prompt in (conversation.messages("Who is here?"), memory.messages("Who is here?")):
        assert prompt[0] == {"role": "system", "content": "Be brief."}
        assert prompt[-1]["content"].split("\n")[-3] == "Someone is in the room."
        assert "Nobody" not in prompt[-1]["content"]
    assert memory.context is context and conversation.context is context


def test_the_history_is_plain_pairs_so_each_prompt_extends_the_last() -> None:
    context: list[ContextProvider] = [lambda: "Someone is in the room.", lambda: None]
    conversation = Conversation("S.", context=context)
    first = conversation.messages("Hi", now=0.0)
    conversation.add("Hi", "Hello!", now=0.0)
    second = conversation.messages("And you?", now=1.0)
    assert second[:2] == [*first[:1], {"role": "user", "content": "Hi"}]
    assert second[2] == {"role": "assistant", "content": "Hello!"}
    assert second[-1]["content"] == "Someone is in the room.\n\nAnd you?"
    assert conversation.prefix_messages(now=1.0) == second[:-1]


def test_no_notes_leave_the_request_as_it_is() -> None:
    assert user_turn("Hi", []) == "Hi"
    assert Conversation("S.").messages("Hi")[-1] == {"role": "user", "content": "Hi"}
