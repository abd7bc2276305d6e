"""Forget is forget: the fact, every turn that quotes it, and every byte of it in memory.db, -wal and -shm.

Issue 26: after "forget the garage safe code" the recall turn that had quoted the code survived,
the LLM said the code again from it, and the WAL still held plaintext copies.  These tests do the
issue's steps on a real store and in the real daemon (`appliance run`, `appliance ask`), then search
the database files' bytes for the canary.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from appliance.memory.quotes import FactMarks
from appliance.memory.records import TurnRow
from appliance.memory.service import Memory
from appliance.memory.store import SIDE_FILES, MemoryStore
from appliance.settings import LlmSettings, MemorySettings

from .test_daemon import cli, start_daemon, stop

CANARY = "CANARYZEBRA"
FACT = f"The garage safe code is {CANARY} 4417"


def copies(db: Path, *needles: str) -> dict[str, int]:
    """How often each needle occurs, case-insensitively, in the bytes of ``db`` and its -wal and -shm."""
    files = [db, *(db.with_name(db.name + side) for side in SIDE_FILES)]
    data = {f.name: f.read_bytes().lower() if f.exists() else b"" for f in files}
    return {f"{name}:{n}": blob.count(n.lower().encode()) for name, blob in data.items() for n in needles}


def test_quote_rule() -> None:
    marks = FactMarks.of(FACT)
    assert marks.quoted_in("You told me: the garage safe code is CANARYZEBRA 4417.")
    assert marks.quoted_in("It's canaryzebra.")  # a word the fact writes in capitals
    assert marks.quoted_in("The code is 4417")  # a number of three digits or more
    assert marks.quoted_in("what's the garage safe's code")  # two of its content words in a row
    assert not marks.quoted_in("where is the safe in the garage")
    assert not marks.quoted_in("set a timer for 3 minutes")
    assert not FactMarks.of("My dentist appointment is on Friday at 3").quoted_in("Set an alarm for 3 on Monday")
    assert FactMarks.of("my dentist appointment").quoted_in("Your dentist appointment is on Friday.")


@pytest.mark.integration
async def test_forget_deletes_quoting_turns_and_every_copy_on_disk(tmp_path: Path, embedder) -> None:
    memory = Memory(MemorySettings(), LlmSettings(), MemoryStore(tmp_path / "memory.db"), embedder, len)
    memory.open()
    try:
        await memory.remember(FACT)
        told = f"remember that the garage safe code is {CANARY} 4417"
        memory.record_turn(TurnRow(1.0, 2.0, told, f"Okay, I'll remember that the garage safe code is {CANARY} 4417."))
        recall = TurnRow(3.0, 4.0, "what do you remember about the garage safe", f"You told me: {FACT}.")
        memory.record_turn(recall)
        memory.record_turn(TurnRow(5.0, 6.0, "what is the code for the garage safe?", f"It is {CANARY} 4417."))
        kept = TurnRow(7.0, 8.0, "what's the weather like", "Sunny and mild.")
        memory.record_turn(kept)
        memory.add(recall.user_text, recall.reply)
        await asyncio.wrap_future(memory.store.submit(lambda c: None))
        assert any(copies(memory.store.path, CANARY).values())  # it is there to be found before the forget

        gone = await asyncio.wait_for(memory.forget("the garage safe code"), 60)

        assert sorted(kind for kind, _, _ in gone) == ["fact", "turn", "turn", "turn"]
        assert not any(v for v in copies(memory.store.path, CANARY, "4417").values()), copies(
            memory.store.path, CANARY, "4417"
        )
        hits = await asyncio.to_thread(memory.search, "what is the code for the garage safe", limit=20)
        assert hits and not any(CANARY.lower() in h.text.lower() for h in hits)
        assert [h.text for h in hits] == ["what's the weather like — Sunny and mild."]
        assert memory.recent() == []
        assert CANARY not in json.dumps(memory.messages("what is the code for the garage safe?"))
    finally:
        memory.close()
    assert not any(v for v in copies(memory.store.path, CANARY, "4417").values())


@pytest.mark.integration
def test_forget_in_the_daemon_leaves_nothing_answerable_or_on_disk(tmp_path: Path, registry) -> None:
    """The issue's exact steps, through `appliance ask` against `appliance run`."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "models").symlink_to(registry.state_dir / "models")  # the joined models, not joined again
    proc, _, env = start_daemon(tmp_path, registry, "--output", str(tmp_path / "out.wav"), state_dir=state)
    db = state / "memory.db"

    def ask(text: str) -> dict:
        done = cli(env, "ask", text, "--json")
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)

    try:
        assert ask(f"remember that the garage safe code is {CANARY} 4417")["intent"] == "memory.remember"
        recalled = ask("what do you remember about the garage safe")
        assert recalled["intent"] == "memory.recall" and CANARY in recalled["reply"]
        forgot = ask("forget the garage safe code")
        assert forgot["intent"] == "memory.forget" and CANARY not in forgot["reply"]
        assert not any(copies(db, CANARY).values()), copies(db, CANARY)

        answer = ask("what is the code for the garage safe?")
        assert CANARY.lower() not in answer["reply"].lower()
        found = cli(env, "memory", "search", "garage safe code", "--json")
        assert found.returncode == 0, found.stderr[-2000:]
        assert CANARY.lower() not in found.stdout.lower()
        listed = cli(env, "memory", "list", "--json")
        assert listed.returncode == 0 and CANARY.lower() not in listed.stdout.lower()
    finally:
        assert stop(proc) == 0
    assert not any(copies(db, CANARY).values()), copies(db, CANARY)
