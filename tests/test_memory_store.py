"""The memory database: pragmas, migrations, the writer thread, quarantine, and crash safety under SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from appliance.core.errors import MemoryStoreError
from appliance.memory import records
from appliance.memory.records import TurnRow
from appliance.memory.schema import SCHEMA_VERSION
from appliance.memory.store import MemoryStore, check_database

ROOT = Path(__file__).resolve().parent.parent


def row(text: str = "hello", at: float = 1000.0) -> TurnRow:
    return TurnRow(started=at, ended=at + 1, user_text=text, reply="hi")


def test_new_store_is_private_wal_and_migrated(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory.db").open()
    try:
        assert stat.S_IMODE((tmp_path / "memory.db").stat().st_mode) == 0o600
        conn = store.reader()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        ref = store.submit(lambda c: records.insert_turn(c, row(), None, "m")).result(timeout=10)
        assert conn.execute("SELECT user_text FROM turns WHERE id = ?", (ref,)).fetchone()[0] == "hello"
        wal = tmp_path / "memory.db-wal"
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    finally:
        store.close()


def test_durable_writes_switch_to_full_sync_and_back(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory.db").open()
    try:
        seen = store.submit(lambda c: c.execute("PRAGMA synchronous").fetchone()[0], durable=True).result(timeout=10)
        after = store.submit(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]).result(timeout=10)
        assert (seen, after) == (2, 1)  # FULL for facts, NORMAL otherwise
    finally:
        store.close()


def test_a_failing_job_rolls_back_and_the_writer_carries_on(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory.db").open()
    try:

        def bad(conn: sqlite3.Connection) -> None:
            records.insert_turn(conn, row("half"), None, "m")
            conn.execute("INSERT INTO nowhere VALUES (1)")

        with pytest.raises(MemoryStoreError) as err:
            store.submit(bad).result(timeout=10)
        assert err.value.code == "memory-write-failed"
        store.submit(lambda c: records.insert_turn(c, row("whole"), None, "m")).result(timeout=10)
        texts = [r[0] for r in store.reader().execute("SELECT user_text FROM turns")]
        assert texts == ["whole"]
    finally:
        store.close()


def test_a_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory.db", queue_size=16).open()
    gate = threading.Event()
    try:
        store.submit(lambda c: gate.wait(10))
        futures = [store.submit(lambda c: None) for _ in range(40)]
        dropped = [f for f in futures if f.done() and f.exception() is not None]
        assert dropped and all(f.exception().code == "memory-busy" for f in dropped)  # type: ignore[union-attr]
        assert store.dropped == len(dropped)
    finally:
        gate.set()
        store.close()


def test_migrations_are_applied_once_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    MemoryStore(path).open().close()
    MemoryStore(path).open().close()  # reopening applies nothing twice
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(MemoryStoreError) as err:
        MemoryStore(path).open()
    assert err.value.code == "memory-too-new"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_file_is_quarantined_with_its_side_files(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "memory.db"
    store = MemoryStore(path).open()
    for i in range(300):
        store.submit(lambda c, i=i: records.insert_turn(c, row(f"turn {i} " * 30), None, "m"))
    store.close()
    data = path.read_bytes()
    path.write_bytes(os.urandom(len(data)) if damage == "garbage" else data[: len(data) // 3])
    (tmp_path / "memory.db-wal").write_bytes(b"junk")
    assert check_database(path) is not None
    errors: list[tuple[str, str]] = []
    store = MemoryStore(path, on_error=lambda code, msg: errors.append((code, msg))).open()
    try:
        assert store.quarantined is not None and store.quarantined.name.startswith("memory.db.corrupt.")
        assert store.quarantined.exists()
        assert Path(str(store.quarantined) + "-wal").read_bytes() == b"junk"
        assert errors and errors[0][0] == "memory-corrupt"
        ref = store.submit(lambda c: records.insert_turn(c, row("fresh"), None, "m")).result(timeout=10)
        assert ref == 1
    finally:
        store.close()


def test_sigkill_never_corrupts_or_loses_an_acknowledged_write(tmp_path: Path) -> None:
    """A child writes turns in a loop and is killed at random moments, 50 times."""
    path = tmp_path / "memory.db"
    rng = random.Random(4)
    acknowledged: set[int] = set()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(50):
        child = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "memory_writer_child.py"), str(path)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        for _ in range(rng.randint(0, 40)):
            acknowledged.add(int(child.stdout.readline()))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        for line in child.stdout:  # writes acknowledged before the kill landed
            if line.strip():
                acknowledged.add(int(line))
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        present = {r[0] for r in conn.execute("SELECT id FROM turns")}
        conn.close()
        assert acknowledged <= present
    assert len(acknowledged) > 100


# -- degrade, don't die: errors that are not corruption -------------------------------


def test_a_locked_database_is_unavailable_not_quarantined(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("appliance.memory.store.BUSY_TIMEOUT_MS", 100)
    db = tmp_path / "memory.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE keep (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the lock
    errors: list[tuple[str, str]] = []
    try:
        with pytest.raises(MemoryStoreError) as info:
            MemoryStore(db, on_error=lambda c, m: errors.append((c, m))).open()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert info.value.code == "memory-unavailable" and "locked" in info.value.message
    assert not errors  # the caller reports it (the app turns memory off with this error)
    assert not list(tmp_path.glob("*.corrupt.*"))  # the healthy file is left alone
    assert sqlite3.connect(db).execute("SELECT count(*) FROM keep").fetchone() == (0,)


def test_a_database_that_cannot_be_opened_is_unavailable_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    db.mkdir()  # stands in for EACCES / ENOENT-style failures (root ignores file modes)
    with pytest.raises(MemoryStoreError) as info:
        MemoryStore(db).open()
    assert info.value.code == "memory-unavailable"
    assert db.is_dir() and not list(tmp_path.glob("*.corrupt.*"))


def test_not_a_database_is_still_quarantined(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    db.write_bytes(b"this is not a database" * 100)
    store = MemoryStore(db).open()
    try:
        assert store.quarantined is not None and store.quarantined.read_bytes().startswith(b"this is not")
    finally:
        store.close()


def test_a_full_disk_fails_the_write_with_disk_full_retries_and_recovers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("appliance.memory.store.DISK_FULL_RETRIES", (0.0, 0.0))
    errors: list[str] = []
    store = MemoryStore(tmp_path / "memory.db", on_error=lambda c, m: errors.append(c)).open()
    try:
        pages = store.submit(lambda c: c.execute("PRAGMA page_count").fetchone()[0]).result(10)
        store.submit(lambda c: c.execute(f"PRAGMA max_page_count = {pages}")).result(10)  # the disk is "full"
        big = "x" * 200_000
        with pytest.raises(MemoryStoreError) as info:
            store.submit(
                lambda c: c.execute("CREATE TABLE filler (t)") and c.execute("INSERT INTO filler VALUES (?)", (big,))
            ).result(10)
        assert info.value.code == "disk-full" and errors.count("disk-full") == 2  # each retry reported
        store.submit(lambda c: c.execute("PRAGMA max_page_count = 1000000")).result(10)  # space freed
        assert store.submit(lambda c: c.execute("SELECT 1").fetchone()[0]).result(10) == 1
    finally:
        store.close()
