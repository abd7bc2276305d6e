"""``skills.db``: timers, alarms, reminders and lists in one small SQLite file in the state dir.

- WAL journal, ``synchronous=FULL``, one transaction per change: a change the
  household heard confirmed survives ``kill -9`` and a power cut.
- Mode 0600 (it holds the household's lists and reminders).
- ``secure_delete`` on, and every delete is followed by a ``TRUNCATE``
  checkpoint: a cancelled reminder's text or a removed list entry is left in
  none of skills.db, -wal and -shm (see docs/memory.md, "What forget deletes").
- A corrupt file at open (``quick_check`` fails, "not a database") is moved
  aside as ``skills.db.corrupt-<time>`` with its -wal/-shm and a fresh one is
  made; any other failure (permissions, a full disk, a file from a newer
  version) raises :class:`SkillStoreError` and leaves the file where it is.
- A row that no longer makes sense (a bad kind, broken JSON) is skipped with
  a warning, so one bad entry never stops the rest.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from appliance.memory.store import check_database, is_corruption
from appliance.memory.store import quarantine as move_aside

__all__ = ["FILENAME", "SkillStore", "is_corruption", "quarantine"]
from appliance.skills.errors import SkillStoreError
from appliance.skills.schedule import (
    Alarm,
    Item,
    Kind,
    Reminder,
    State,
    Timer,
)

_LOGGER = logging.getLogger(__name__)

FILENAME = "skills.db"
SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, due REAL NOT NULL,"
    " state TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', created REAL NOT NULL DEFAULT 0, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS list_items (id INTEGER PRIMARY KEY AUTOINCREMENT, list TEXT NOT NULL,"
    " item TEXT NOT NULL, item_key TEXT NOT NULL, added REAL NOT NULL, UNIQUE (list, item_key))",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_KINDS: dict[str, type[Item]] = {Kind.TIMER.value: Timer, Kind.ALARM.value: Alarm, Kind.REMINDER.value: Reminder}


def _problem(path: Path) -> str | None:
    """What is wrong with an existing file if it is corrupt; SkillStoreError for anything else."""
    return check_database(path, lambda message: SkillStoreError("skills-db-unavailable", message))


def quarantine(path: Path, now: float | None = None) -> Path:
    """Move a corrupt database (and its -wal/-shm) aside as ``<name>.corrupt-<time>``; returns the new path."""
    return move_aside(path, now, mark=".corrupt-")


class SkillStore:
    """Owns ``skills.db``: open (check, quarantine, create), one committed transaction per change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.quarantined: Path | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> SkillStore:
        """Check the file (quarantining a corrupt one), create it 0600 in WAL mode, create the tables."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            problem = _problem(self.path)
            if problem is not None:
                self.quarantined = quarantine(self.path)
                _LOGGER.error("%s was corrupt (%s); moved to %s, starting fresh", self.path, problem, self.quarantined)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
            self._conn = self._connect()
        except OSError as err:
            raise SkillStoreError("skills-db-unavailable", f"cannot open {self.path}: {err}") from err
        return self

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")  # whatever this SQLite's compile-time default
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.close()
                raise SkillStoreError(
                    "skills-db-too-new", f"{self.path} is schema {version}; this version understands {SCHEMA_VERSION}"
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as err:
            raise SkillStoreError("skills-db-unavailable", f"cannot open {self.path}: {err}") from err
        return conn

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def close(self) -> None:
        """Close the connection (everything is already committed)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]], *, deletes: bool = False) -> int:
        """One transaction; after a delete the WAL (which still has the rows as they were) is emptied."""
        with self._lock:
            conn = self._require()
            try:
                conn.execute("BEGIN IMMEDIATE")
                changed = 0
                for row in rows:
                    changed += conn.execute(sql, row).rowcount
                conn.execute("COMMIT")
                if deletes and changed:
                    _truncate_wal(conn, self.path)
            except sqlite3.Error as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise SkillStoreError("skills-write-failed", f"{self.path}: {err}") from err
            return changed

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._require().execute(sql, args).fetchall()
            except sqlite3.Error as err:
                raise SkillStoreError("skills-read-failed", f"{self.path}: {err}") from err

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SkillStoreError("skills-closed", "the skills store is not open")
        return self._conn

    # -- schedule -------------------------------------------------------------------
    def save(self, *items: Item) -> None:
        """Insert or replace ``items`` in one transaction."""
        self._write(
            "INSERT OR REPLACE INTO items (id, kind, due, state, name, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(i.id, i.kind.value, i.due, i.state.value, i.name, i.created, json.dumps(_extra(i))) for i in items],
        )

    def delete(self, *ids: int) -> None:
        """Remove the items with these ids."""
        self._write("DELETE FROM items WHERE id = ?", [(i,) for i in ids], deletes=True)

    def load_items(self) -> list[Item]:
        """Every stored item; a row that no longer parses is skipped with a warning."""
        items = []
        for row in self._read("SELECT id, kind, due, state, name, created, data FROM items ORDER BY id"):
            try:
                items.append(_item(row))
            except (ValueError, TypeError, KeyError) as err:
                _LOGGER.warning("Skipping unreadable skills item %r: %s", row[0], err)
        return items

    # -- lists ------------------------------------------------------------------------
    def list_add(self, name: str, entries: Iterable[str], now: float) -> list[str]:
        """Add entries not already on list ``name``; returns those added."""
        fresh: dict[str, str] = {}
        for entry in entries:
            fresh.setdefault(entry.strip().lower(), entry.strip())
        present = {key for (key,) in self._read("SELECT item_key FROM list_items WHERE list = ?", (name,))}
        added = [e for key, e in fresh.items() if key and key not in present]
        self._write(
            "INSERT OR IGNORE INTO list_items (list, item, item_key, added) VALUES (?, ?, ?, ?)",
            [(name, e, e.lower(), now) for e in added],
        )
        return added

    def list_remove(self, name: str, entries: Iterable[str]) -> list[str]:
        """Remove entries from list ``name`` (case-insensitive); returns those that were there."""
        present = {
            key: item for key, item in self._read("SELECT item_key, item FROM list_items WHERE list = ?", (name,))
        }
        gone = [present[e.strip().lower()] for e in entries if e.strip().lower() in present]
        self._write(
            "DELETE FROM list_items WHERE list = ? AND item_key = ?", [(name, g.lower()) for g in gone], deletes=True
        )
        return gone

    def list_items(self, name: str) -> list[str]:
        """List ``name`` in the order things were added."""
        return [item for (item,) in self._read("SELECT item FROM list_items WHERE list = ? ORDER BY id", (name,))]

    def list_clear(self, name: str) -> int:
        """Empty list ``name``; returns how many entries went."""
        return self._write("DELETE FROM list_items WHERE list = ?", [(name,)], deletes=True)

    def lists(self) -> dict[str, list[str]]:
        """Every non-empty list."""
        out: dict[str, list[str]] = {}
        for name, item in self._read("SELECT list, item FROM list_items ORDER BY id"):
            out.setdefault(name, []).append(item)
        return out

    # -- liveness -----------------------------------------------------------------------
    def mark_seen(self, now: float) -> None:
        """Record that the daemon was running at ``now`` (for missed-alarm reports)."""
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_seen', ?)", [(repr(now),)])

    def last_seen(self) -> float | None:
        """When the daemon last recorded itself running, or None."""
        rows = self._read("SELECT value FROM meta WHERE key = 'last_seen'")
        return float(rows[0][0]) if rows else None


def _truncate_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Copy the WAL into the main file and empty it; with secure_delete the deleted rows are then nowhere."""
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.Error as err:  # the delete is committed; the next checkpoint will do
        _LOGGER.warning("%s: WAL not truncated after a delete: %s", path, err)
        return
    if busy:
        _LOGGER.warning("%s: WAL not truncated after a delete (another connection was reading)", path)


def _extra(item: Item) -> dict[str, Any]:
    if isinstance(item, Timer):
        return {"duration_s": item.duration_s, "paused_remaining_s": item.paused_remaining_s}
    if isinstance(item, Alarm):
        return {"hour": item.hour, "minute": item.minute, "days": list(item.days)}
    if isinstance(item, Reminder):
        return {"message": item.message}
    return {}


def _item(row: tuple[Any, ...]) -> Item:
    item_id, kind, due, state, name, created, data = row
    extra = json.loads(data)
    if not isinstance(extra, dict):
        raise ValueError("data is not an object")
    cls = _KINDS[kind]
    if cls is Alarm:
        extra["days"] = tuple(int(d) for d in extra.get("days", ()) if 0 <= int(d) <= 6)
    return cls(int(item_id), float(due), state=State(state), name=str(name), created=float(created), **extra)
