"""skills.db: persistence across reopen, 0600, quarantine of a corrupt file, other errors leave it alone, lists."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.skills import store as store_module
from appliance.skills.errors import SkillStoreError
from appliance.skills.schedule import (
    WEEKDAYS,
    Alarm,
    Reminder,
    Schedule,
    State,
    Timer,
)
from appliance.skills.store import FILENAME, SkillStore, is_corruption

from .test_skills_schedule import LONDON, NOW


def opened(tmp_path: Path) -> SkillStore:
    return SkillStore(tmp_path / FILENAME).open()


def test_items_survive_reopen(tmp_path: Path) -> None:
    s = Schedule(LONDON)
    timer = s.start_timer(600, "pasta", NOW)
    paused = s.pause(s.start_timer(300, "eggs", NOW), NOW + 10)
    alarm = s.set_alarm(NOW, hour=6, minute=30, days=WEEKDAYS, label="work")
    reminder = s.set_reminder("take the bins out", NOW + 3600, NOW)
    store = opened(tmp_path)
    store.save(timer, paused, alarm, reminder)
    store.close()
    again = opened(tmp_path)
    loaded = again.load_items()
    assert loaded == [timer, paused, alarm, reminder]
    assert isinstance(loaded[1], Timer) and loaded[1].paused_remaining_s == 290 and loaded[1].state is State.PAUSED
    assert isinstance(loaded[2], Alarm) and loaded[2].days == WEEKDAYS
    assert isinstance(loaded[3], Reminder) and loaded[3].text == "take the bins out"
    again.delete(timer.id)
    assert [i.id for i in again.load_items()] == [paused.id, alarm.id, reminder.id]
    again.close()


def test_file_is_private_and_wal(tmp_path: Path) -> None:
    store = opened(tmp_path)
    assert stat.S_IMODE((tmp_path / FILENAME).stat().st_mode) == 0o600
    conn = sqlite3.connect(tmp_path / FILENAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    store.close()


def test_committed_change_survives_kill_9(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from appliance.skills.store import SkillStore
        from appliance.skills.schedule import Schedule
        from zoneinfo import ZoneInfo
        store = SkillStore(Path({str(tmp_path / FILENAME)!r})).open()
        s = Schedule(ZoneInfo("Europe/London"))
        store.save(s.set_alarm(1000.0, due=5000.0, label="kill"))
        store.list_add("shopping", ["eggs"], 1000.0)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert proc.returncode == -9, proc.stderr
    store = opened(tmp_path)
    assert [(i.name, i.due) for i in store.load_items()] == [("kill", 5000.0)]
    assert store.list_items("shopping") == ["eggs"]
    store.close()


def test_corrupt_file_is_quarantined_and_a_fresh_one_made(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    path.write_bytes(b"this is not an sqlite database at all" * 200)
    store = SkillStore(path).open()
    assert store.quarantined is not None and store.quarantined.name.startswith("skills.db.corrupt-")
    assert store.quarantined.read_bytes().startswith(b"this is not")
    assert store.load_items() == [] and store.list_items("shopping") == []
    store.list_add("shopping", ["milk"], NOW)
    store.close()
    assert opened(tmp_path).list_items("shopping") == ["milk"]


def test_damaged_pages_are_quarantined(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.list_add("shopping", [f"item {n}" for n in range(500)], NOW)
    store.close()
    path = tmp_path / FILENAME
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # smash every page after the header page
    path.write_bytes(bytes(data))
    again = SkillStore(path).open()
    assert again.quarantined is not None
    again.close()


def test_non_corruption_error_leaves_the_file_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = opened(tmp_path)
    store.list_add("shopping", ["eggs"], NOW)
    store.close()
    real = sqlite3.connect

    def full(*args: object, **kwargs: object) -> sqlite3.Connection:
        err = sqlite3.OperationalError("database or disk is full")
        err.sqlite_errorcode = 13  # type: ignore[attr-defined]  # SQLITE_FULL
        raise err

    monkeypatch.setattr(store_module.sqlite3, "connect", full)
    with pytest.raises(SkillStoreError) as err:
        SkillStore(tmp_path / FILENAME).open()
    assert err.value.code == "skills-db-unavailable"
    monkeypatch.setattr(store_module.sqlite3, "connect", real)
    assert sorted(p.name for p in tmp_path.iterdir() if "corrupt" in p.name) == []
    assert opened(tmp_path).list_items("shopping") == ["eggs"]


def test_unwritable_directory_is_a_coded_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SkillStoreError) as err:
        SkillStore(blocker / FILENAME).open()
    assert err.value.code == "skills-db-unavailable"
    assert blocker.read_text() == "x"


def test_newer_schema_is_refused_without_moving(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / FILENAME)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SkillStoreError) as err:
        SkillStore(tmp_path / FILENAME).open()
    assert err.value.code == "skills-db-too-new"
    assert (tmp_path / FILENAME).exists()


def test_is_corruption_by_message_on_older_pythons() -> None:
    assert is_corruption(sqlite3.DatabaseError("file is not a database"))
    assert is_corruption(sqlite3.DatabaseError("database disk image is malformed"))
    assert not is_corruption(sqlite3.OperationalError("unable to open database file"))


def test_bad_row_is_skipped(tmp_path: Path) -> None:
    store = opened(tmp_path)
    s = Schedule(LONDON)
    store.save(s.start_timer(60, "good", NOW))
    conn = sqlite3.connect(tmp_path / FILENAME)
    conn.execute("INSERT INTO items VALUES (7, 'gadget', 0, 'running', '', 0, '{}')")
    conn.execute("INSERT INTO items VALUES (8, 'timer', 0, 'running', '', 0, 'not json')")
    conn.commit()
    conn.close()
    assert [i.name for i in store.load_items()] == ["good"]
    store.close()


def test_list_operations(tmp_path: Path) -> None:
    store = opened(tmp_path)
    assert store.list_add("shopping", ["eggs", "butter", "Eggs", " "], NOW) == ["eggs", "butter"]
    assert store.list_add("shopping", ["EGGS", "milk"], NOW) == ["milk"]
    assert store.list_items("shopping") == ["eggs", "butter", "milk"]
    assert store.list_remove("shopping", ["Milk", "bread"]) == ["milk"]
    store.list_add("to-do", ["call mum"], NOW)
    assert store.lists() == {"shopping": ["eggs", "butter"], "to-do": ["call mum"]}
    assert store.list_clear("shopping") == 2
    assert store.list_items("shopping") == [] and store.list_items("to-do") == ["call mum"]
    store.mark_seen(NOW)
    assert store.last_seen() == NOW
    store.close()
    with pytest.raises(SkillStoreError):
        store.list_items("shopping")


def test_deleted_reminders_and_list_entries_leave_no_bytes_behind(tmp_path: Path) -> None:
    """Issue 26: after a delete neither skills.db nor its -wal or -shm holds the text (secure_delete + checkpoint)."""
    secret, entry = "CANARYZEBRA 4417 at the vet", "QUOKKAPLUM"
    s = Schedule(LONDON)
    reminder = s.set_reminder(f"collect the {secret}", NOW + 3600, NOW)
    store = opened(tmp_path)
    store.save(reminder, s.start_timer(600, "pasta", NOW))
    store.list_add("shopping", [entry, "eggs"], NOW)
    files = [tmp_path / (FILENAME + side) for side in ("", "-wal", "-shm")]

    def copies(needle: str) -> int:
        return sum(f.read_bytes().lower().count(needle.lower().encode()) for f in files if f.exists())

    assert copies("CANARYZEBRA") and copies(entry)
    store.delete(reminder.id)
    assert store.list_remove("shopping", [entry.lower()]) == [entry]
    assert copies("CANARYZEBRA") == 0 and copies(entry) == 0
    assert [i.name for i in store.load_items()] == ["pasta"] and store.list_items("shopping") == ["eggs"]
    store.close()
    assert copies("CANARYZEBRA") == 0 and copies(entry) == 0
