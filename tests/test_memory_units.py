"""Small pure pieces: intent matching, settings, LoRA arguments, event descriptions, turn rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.core.errors import ConfigError, LlmError
from appliance.engines.llm.options import lora_kwargs
from appliance.memory.intents import (
    FORGET,
    FORGET_TODAY,
    RECALL,
    RECALL_TOLD,
    REMEMBER,
    MemoryIntents,
    second_person,
)
from appliance.memory.service import describe_event
from appliance.memory.wiring import turn_row
from appliance.settings import LlmSettings, describe_defaults, load_settings
from appliance.voice.turn_record import Outcome, Source, TurnRecord


class NoMemory:
    settings = None


@pytest.mark.parametrize(
    ("text", "name", "arg"),
    [
        (
            "Remember that my dentist appointment is on Friday at 3.",
            "memory.remember",
            "My dentist appointment is on Friday at 3",
        ),
        ("please remember the spare key is under the pot", "memory.remember", "The spare key is under the pot"),
        ("What do you remember about my dentist appointment?", "memory.recall", "my dentist appointment"),
        ("What did I tell you about the boiler?", "memory.recall", "the boiler"),
        ("Forget my dentist appointment.", "memory.forget", "my dentist appointment"),
        ("Forget about the boiler", "memory.forget", "the boiler"),
        ("Forget everything from today.", "memory.forget_today", None),
        ("What is the capital of France?", None, None),
        ("Do you remember?", None, None),
    ],
)
def test_memory_intents_match_what_people_say(text: str, name: str | None, arg: str | None) -> None:
    intent = MemoryIntents(NoMemory()).match(text)  # type: ignore[arg-type]
    assert (intent.name if intent else None) == name
    if intent is not None and arg is not None:
        assert arg in (intent.data.get("fact"), intent.data.get("query"))


def test_patterns_do_not_overlap_on_recall_and_forget_today() -> None:
    assert RECALL.match("what do you remember about Anna") and not REMEMBER.match("what do you remember about Anna")
    assert FORGET_TODAY.match("forget everything from today") and FORGET.match("forget everything from today")
    assert RECALL_TOLD.match("what did I tell you about Anna?")
    assert second_person("my keys are where I left them") == "your keys are where you left them"


def test_memory_settings_validate_and_document() -> None:
    s = load_settings(None, env={"APPLIANCE_MEMORY_RETENTION_DAYS": "30", "APPLIANCE_MEMORY_ENABLED": "false"})
    assert s.memory.retention_days == 30.0 and s.memory.enabled is False
    assert s.memory_path.name == "memory.db"
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={"APPLIANCE_MEMORY_MIN_SIMILARITY": "2"})
    assert "memory.min_similarity" in err.value.message
    with pytest.raises(ConfigError):
        load_settings(None, env={"APPLIANCE_MEMORY_EMBEDDING_BACKEND": "torch"})
    text = describe_defaults()
    assert "[memory]" in text and "lora_path" in text


def test_lora_arguments(tmp_path: Path) -> None:
    assert lora_kwargs(LlmSettings()) == {}
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF")
    assert lora_kwargs(LlmSettings(lora_path=str(adapter), lora_scale=0.5)) == {
        "lora_path": str(adapter),
        "lora_scale": 0.5,
    }
    with pytest.raises(LlmError) as err:
        lora_kwargs(LlmSettings(lora_path=str(tmp_path / "missing.gguf")))
    assert err.value.code == "llm-lora-missing"


def test_event_descriptions() -> None:
    assert describe_event("mute", {"event": "mute", "ts": 1.0, "muted": True}) == "mute: muted True"


def test_turn_rows_keep_answered_turns_with_wall_times() -> None:
    record = TurnRecord(turn_id=3, source=Source.VOICE, transcript="Hi", reply="Hello", outcome=Outcome.ANSWERED)
    record.wake_mono = 100.0
    row = turn_row(record, now=1000.0, mono=104.0)
    assert row is not None and (row.started, row.ended, row.user_text, row.reply) == (996.0, 1000.0, "Hi", "Hello")
    assert turn_row(TurnRecord(turn_id=4, source=Source.VOICE, outcome=Outcome.NO_SPEECH)) is None
