"""The QoS 1 outbox: events that must reach the broker, kept in SQLite until it acknowledges them.

paho keeps unacknowledged messages in memory only, so a daemon restart
during a broker outage would lose them.  Every entry is written to
``<state_dir>/outbox.db`` and removed only after its PUBACK.  The table is
bounded: when it is full the oldest entries go first (counted in
``dropped``).

A corrupt file (not a database, malformed, a failed ``quick_check``) is
moved aside and a fresh one started. Any other error at open (EACCES, a
full disk, a lock) leaves the file alone: the outbox runs in memory only
(``unavailable`` says why; the bridge reports ``outbox-unavailable``). A
full disk while writing is retried with the next batch, never fatal.

The event loop owns the in-memory view (``add``, ``ack``, ``unsent``); one
writer thread owns the SQLite connection and commits in batches, so the
loop never waits for the disk.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from appliance.memory.store import is_corruption, is_disk_full

_LOGGER = logging.getLogger(__name__)

SCHEMA = """CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)"""


@dataclass(frozen=True)
class Entry:
    id: int
    topic: str
    payload: bytes
    retain: bool = False


class Outbox:
    """Bounded, durable queue of QoS 1 publications."""

    def __init__(self, path: Path, max_entries: int) -> None:
        self.path = path
        self.max_entries = max_entries
        self.dropped = 0
        self._pending: OrderedDict[int, Entry] = OrderedDict()
        self._next_id = 1
        self._ops: queue.Queue[tuple[str, object]] = queue.Queue()
        self._db: sqlite3.Connection | None = None
        self._writer: threading.Thread | None = None
        self.unavailable: str | None = None
        """Why the database is not used (None while it is)."""
        self.disk_full = 0
        """Batches that found the disk full (kept and retried with the next batch)."""

    # -- lifecycle (blocking: call from a worker thread) --------------------------
    def open(self) -> int:
        """Open (or create) the database and load what an earlier run left; returns that count.

        Never raises for the database: when it cannot be used, ``unavailable``
        holds why and the outbox keeps its entries in memory only (until
        :meth:`connect_again` and :meth:`adopt` succeed).
        """
        opened = self.connect_again()
        if opened is None:
            # Ids above any earlier run's, so that run's rows keep their place when adopted later.
            self._next_id = int(time.time() * 1000)
            return 0
        self.adopt(*opened)
        return len(self._pending)

    def connect_again(self) -> tuple[sqlite3.Connection, list[Entry]] | None:
        """Open the database and read its rows (blocking; any thread); None, with ``unavailable`` set, if it fails."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._open_or_quarantine()
            rows = db.execute("SELECT id, topic, payload, retain FROM outbox ORDER BY id").fetchall()
        except (OSError, sqlite3.Error) as err:
            self.unavailable = f"{self.path} cannot be used ({err}); events are kept in memory only"
            _LOGGER.error("Outbox off: %s", self.unavailable)
            return None
        return db, [Entry(row_id, topic, bytes(payload), bool(retain)) for row_id, topic, payload, retain in rows]

    def adopt(self, db: sqlite3.Connection, rows: list[Entry]) -> None:
        """Use ``db`` from now on (on the event loop): earlier rows join the queue, in-memory entries are written."""
        if self._writer is not None:
            db.close()
            return
        kept_in_memory = list(self._pending.values())
        merged = {entry.id: entry for entry in rows}
        merged.update({entry.id: entry for entry in kept_in_memory})
        self._pending = OrderedDict(sorted(merged.items()))
        self._next_id = max(self._next_id, max(merged, default=0) + 1)
        self._db = db
        self._writer = threading.Thread(target=self._write_loop, name="outbox", daemon=True)
        self._writer.start()
        for entry in kept_in_memory:
            self._ops.put(("add", entry))
        if self.unavailable is not None:
            _LOGGER.info("Outbox %s is in use again (%d entries kept)", self.path, len(self._pending))
        self.unavailable = None
        while len(self._pending) > self.max_entries:
            oldest, _ = self._pending.popitem(last=False)
            self._queue_op("del", oldest)
            self.dropped += 1

    def _open_or_quarantine(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as err:
            if not is_corruption(err):
                raise
            suffix = f".corrupt.{int(time.time())}"
            moved = self.path.name + suffix
            _LOGGER.error("Outbox %s is unreadable, corrupt (%s); moved aside to %s", self.path, err, moved)
            for extra in ("", "-wal", "-shm"):  # the three files belong together
                part = self.path.with_name(self.path.name + extra)
                if part.exists():
                    part.rename(part.with_name(part.name + suffix))
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)  # a state file: private
        os.close(fd)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5.0)
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("malformed: quick_check failed")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # survives a crash of the daemon; see docs/mqtt.md
            db.execute("PRAGMA secure_delete=ON")  # a delivered or forgotten transcript leaves no bytes behind
            db.execute(SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self, timeout: float = 5.0) -> None:
        """Commit what is queued and close the database."""
        if self._writer is None:
            return
        self._ops.put(("stop", None))
        self._writer.join(timeout)
        self._writer = None

    # -- the event loop's side ---------------------------------------------------------
    def add(self, topic: str, payload: bytes, *, retain: bool = False) -> Entry:
        """Queue a publication; it stays until :meth:`ack`."""
        entry = Entry(self._next_id, topic, payload, retain)
        self._next_id += 1
        self._pending[entry.id] = entry
        self._queue_op("add", entry)
        while len(self._pending) > self.max_entries:
            oldest, _ = self._pending.popitem(last=False)
            self._queue_op("del", oldest)
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                _LOGGER.warning("Outbox full (%d entries): %d oldest events dropped", self.max_entries, self.dropped)
        return entry

    def ack(self, entry_id: int) -> None:
        """The broker has it: forget the entry."""
        if self._pending.pop(entry_id, None) is not None:
            self._queue_op("del", entry_id)

    def drop_topics(self, topics: frozenset[str]) -> int:
        """Drop the queued entries on these topics and scrub the file ("forget"); how many went.

        A forgotten conversation must not reach the broker later either, nor stay in
        the database or its WAL: the entries are deleted with ``secure_delete`` and
        the WAL is checkpointed and truncated behind them.
        """
        gone = [entry_id for entry_id, entry in self._pending.items() if entry.topic in topics]
        for entry_id in gone:
            del self._pending[entry_id]
            self._queue_op("del", entry_id)
        self._queue_op("scrub", None)
        return len(gone)

    def _queue_op(self, op: str, arg: object) -> None:
        if self._writer is not None:  # memory-only: nothing would ever take them
            self._ops.put((op, arg))

    def unsent(self, exclude: set[int] | frozenset[int], limit: int) -> list[Entry]:
        """Oldest entries not in ``exclude`` (those already handed to the client)."""
        out: list[Entry] = []
        for entry_id, entry in self._pending.items():
            if len(out) >= limit:
                break
            if entry_id not in exclude:
                out.append(entry)
        return out

    def __len__(self) -> int:
        return len(self._pending)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is committed (tests, shutdown)."""
        if self._writer is None:
            return True
        done = threading.Event()
        self._ops.put(("flush", done))
        return done.wait(timeout)

    # -- the writer thread ---------------------------------------------------------------
    def _write_loop(self) -> None:
        assert self._db is not None
        db = self._db
        try:
            while True:
                batch = [self._ops.get()]
                while len(batch) < 500:
                    try:
                        batch.append(self._ops.get_nowait())
                    except queue.Empty:
                        break
                if not self._commit(db, batch):
                    return
        finally:
            db.close()

    def _commit(self, db: sqlite3.Connection, batch: list[tuple[str, object]]) -> bool:
        """Apply one batch in one transaction; False once asked to stop."""
        waiters = [arg for op, arg in batch if op == "flush"]
        try:
            db.execute("BEGIN")
            for op, arg in batch:
                if op == "add":
                    e = arg
                    assert isinstance(e, Entry)
                    db.execute(
                        "INSERT OR REPLACE INTO outbox (id, topic, payload, retain, created) VALUES (?, ?, ?, ?, ?)",
                        (e.id, e.topic, e.payload, int(e.retain), time.time()),
                    )
                elif op == "del":
                    db.execute("DELETE FROM outbox WHERE id = ?", (arg,))
            db.execute("COMMIT")
            if any(op == "scrub" for op, _ in batch):
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            stopping = any(op == "stop" for op, _ in batch)
            if is_disk_full(err) and not stopping:
                self.disk_full += 1
                if self.disk_full in (1, 10, 100) or self.disk_full % 1000 == 0:
                    _LOGGER.error("Outbox: the disk is full (%d times); kept in memory, retried", self.disk_full)
                time.sleep(min(2.0, 0.1 * self.disk_full))
                for op, arg in batch:  # the in-memory view still holds them: write them with the next batch
                    if op in ("add", "del"):
                        self._ops.put((op, arg))
            else:
                _LOGGER.error("Outbox write failed (%s); %d operations lost", err, len(batch))
        for waiter in waiters:
            assert isinstance(waiter, threading.Event)
            waiter.set()
        return not any(op == "stop" for op, _ in batch)
