"""memory.* commands on a real store and the real embedder: import/export, backup/restore, forget, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.core.errors import CommandError, MemoryStoreError
from appliance.memory.admin import MemoryAdmin
from appliance.memory.records import TurnRow
from appliance.memory.service import Memory
from appliance.memory.store import MemoryStore
from appliance.settings import LlmSettings, MemorySettings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent

GOOD = [
    '{"kind": "fact", "text": "The boiler code is 4711.", "created": 1700000000}',
    '{"kind": "turn", "id": 9, "user_text": "Who is coming?", "reply": "Anna.", "started": 1.7e9, "ended": 1.7e9}',
    '{"kind": "event", "event_kind": "home", "name": "intent_executed", "text": "kitchen light on", "ts": 1700000002}',
]


@pytest.fixture
def admin(tmp_path: Path, embedder):
    memory = Memory(MemorySettings(), LlmSettings(), MemoryStore(tmp_path / "memory.db"), embedder, len)
    memory.open()
    yield MemoryAdmin(memory, tmp_path)
    memory.close()


async def test_import_with_malformed_lines_names_them_and_imports_nothing(admin: MemoryAdmin) -> None:
    lines = [
        GOOD[0],
        "{not json",
        '{"kind": "fact"}',
        GOOD[1],
        '{"kind": "dream", "text": "x"}',
        '["a", "list"]',
        '{"kind": "turn", "user_text": "hi", "started": "yesterday", "ended": 1}',
    ]
    with pytest.raises(MemoryStoreError) as err:
        await admin.import_({"lines": lines})
    message = err.value.message
    assert err.value.code == "import-invalid"
    for number in (2, 3, 5, 6, 7):
        assert f"line {number}:" in message
    assert "line 1:" not in message and "line 4:" not in message
    stats = await admin.stats({})
    assert stats["counts"] == {"turn": 0, "fact": 0, "event": 0}


async def test_export_then_import_round_trips(admin: MemoryAdmin, tmp_path: Path) -> None:
    result = await admin.import_({"lines": GOOD})
    assert result["imported"] == {"turn": 1, "fact": 1, "event": 1}
    exported = await admin.export({"file": "all.jsonl"})
    assert exported["lines"] == 3 and Path(exported["path"]).parent == tmp_path / "exports"
    assert oct(Path(exported["path"]).stat().st_mode & 0o777) == "0o600"
    lines = Path(exported["path"]).read_text().splitlines()
    assert {json.loads(line)["kind"] for line in lines} == {"turn", "fact", "event"}
    await admin.import_({"lines": lines})
    assert (await admin.stats({}))["counts"] == {"turn": 2, "fact": 2, "event": 2}
    hits = (await admin.search({"query": "what is the boiler code"}))["hits"]
    assert hits[0]["kind"] == "fact" and "4711" in hits[0]["text"]
    assert set(hits[0]) >= {"text", "kind", "score", "time"}


async def test_backup_while_writing_then_restore_only_a_verified_copy(admin: MemoryAdmin, tmp_path: Path) -> None:
    memory = admin.memory
    for i in range(200):
        memory.record_turn(TurnRow(started=1.0, ended=2.0 + i, user_text=f"turn number {i}", reply="ok"))
    backup = await admin.backup({"file": "snap.db"})  # while the writer is still busy
    conn = sqlite3.connect(backup["path"])
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    backed_up = conn.execute("SELECT count(*) FROM turns").fetchone()[0]
    conn.close()
    await asyncio.wrap_future(memory.store.submit(lambda c: None))  # the queue has drained
    await memory.remember("The spare key is under the flower pot.")
    (tmp_path / "backups" / "junk.db").write_bytes(b"garbage" * 500)
    with pytest.raises(MemoryStoreError) as err:
        await admin.restore({"file": "junk.db"})
    assert err.value.code == "restore-corrupt"
    assert (await admin.stats({}))["counts"]["fact"] == 1  # the live memory is untouched
    restored = await admin.restore({"file": "snap.db"})
    stats = await admin.stats({})
    assert stats["counts"]["turn"] == backed_up and stats["counts"]["fact"] == 0
    assert Path(restored["previous"]).exists()


async def test_forget_by_query_id_and_today(admin: MemoryAdmin) -> None:
    memory = admin.memory
    fact = await memory.remember("My dentist appointment is on Friday at 3.")
    await memory.remember("My doctor appointment is on Monday at 9.")
    await memory.remember("The bins go out on Tuesday.")
    gone = (await admin.forget({"query": "my dentist appointment"}))["forgotten"]
    assert [g["id"] for g in gone if g["kind"] == "fact"] == [fact]
    left = [i["text"] for i in (await admin.list({"kind": "fact"}))["items"]]
    assert len(left) == 2 and not any("dentist" in t for t in left)
    assert (await admin.forget({"since": "today"}))["forgotten"]["fact"] == 2
    assert (await admin.list({}))["items"] == []


async def test_file_names_never_leave_the_state_dir(admin: MemoryAdmin) -> None:
    for name in ("../memory.db", "/etc/passwd", ".hidden", "a/b", ""):
        with pytest.raises(CommandError):
            await admin.export({"file": name})
    with pytest.raises(CommandError):
        await admin.restore({"file": "missing.db"})


def test_cli_works_on_the_database_when_no_daemon_runs(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "APPLIANCE_PATHS_STATE_DIR": str(tmp_path),
        "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "run"),
        "APPLIANCE_CONFIG": "",
    }
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(GOOD) + "\n")

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "appliance", "memory", *argv], env=env, capture_output=True, text=True, timeout=300
        )

    assert cli("import", str(source), "--json").returncode == 0
    found = json.loads(cli("search", "boiler code", "--json").stdout)
    assert found["hits"][0]["kind"] == "fact"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(GOOD[0] + "\n{oops\n")
    proc = cli("import", str(bad))
    assert proc.returncode == 1 and "line 2" in proc.stderr and "nothing imported" in proc.stderr
    exported = cli("export").stdout.splitlines()
    assert len(exported) == 3
    stats = json.loads(cli("stats", "--json").stdout)
    assert stats["counts"] == {"turn": 1, "fact": 1, "event": 1}


async def test_events_are_recorded_context_facts_reach_the_prompt_and_retention_prunes(admin: MemoryAdmin) -> None:
    import time
    from dataclasses import dataclass

    from appliance.core.events import Event, MuteChanged

    @dataclass(frozen=True)
    class Presence(Event):
        count: int
        name = "presence"

    memory = admin.memory
    memory.context.append(lambda: "1 person is in the room.")
    memory.on_event(MuteChanged(muted=True))
    memory.on_event(Presence(count=1))
    now = time.time()
    memory.record_turn(TurnRow(started=1000.0, ended=1001.0, user_text="an ancient question", reply="x"))
    memory.record_turn(TurnRow(started=now, ended=now, user_text="a recent question", reply="y"))
    await memory.remember("A fact from long ago.")
    await asyncio.wrap_future(memory.store.submit(lambda c: c.execute("UPDATE facts SET created = 1000.0")))
    events = (await admin.list({"kind": "event"}))["items"]
    assert {(e["name"], e["event_kind"]) for e in events} == {("mute", "system"), ("presence", "vision")}
    assert "1 person is in the room." in memory.messages("hello")[-1]["content"].split("\n")  # a note of its own
    assert await memory.prune() == {"turn": 1, "event": 0}
    counts = (await admin.stats({}))["counts"]
    assert counts == {"turn": 1, "fact": 1, "event": 2}  # facts stay until forgotten
    assert [h.text for h in memory.search("ancient question", kinds=("turn",))] == ["a recent question — y"]
