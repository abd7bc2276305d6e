"""The memory database: one SQLite file, written by one thread, read by any.

- WAL journal; ``synchronous=NORMAL`` for turns and events (a process crash
  loses nothing committed; a power cut may lose the last moments) and FULL
  for facts the household explicitly asked to remember.
- Writes go through :meth:`MemoryStore.submit` to a writer thread over a
  bounded queue, so the event loop and the audio path never wait on disk; a
  full queue drops the write with a counted, logged ``memory-busy`` error.
- At start-up ``quick_check`` runs; a corrupt file ("file is not a
  database", "malformed", a failed check) is moved aside as
  ``memory.db.corrupt.<time>`` (with its -wal/-shm), reported through
  ``on_error`` and replaced by a fresh store. Any other error at open
  (EACCES, a full disk, a lock) is not corruption: the file is left alone
  and :meth:`MemoryStore.open` raises ``memory-unavailable``, so the
  appliance runs on without memory.
- A full disk during a write is ``disk-full``: retried a few times, then
  that write fails; the writer thread never dies of it.
- Schema changes are numbered migrations applied by ``PRAGMA user_version``.
- ``secure_delete`` is on for every connection (deleted rows are overwritten
  with zeros, not merely unlinked), and after a forget :meth:`MemoryStore.scrub`
  folds the full-text indexes and truncates the WAL: forgotten text is in none
  of memory.db, -wal and -shm (see docs/memory.md).
"""

from __future__ import annotations

import concurrent.futures
import errno
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from appliance.core.errors import MemoryStoreError
from appliance.memory.schema import FTS_TABLES, MIGRATIONS, SCHEMA_VERSION

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]
BUSY_TIMEOUT_MS = 5000
SIDE_FILES = ("-wal", "-shm")
_STOP = object()


def readonly_uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 11, 13, 26
DISK_FULL_RETRIES = (0.2, 1.0, 3.0)
"""Seconds between the attempts of a write that found the disk full."""


def _primary_code(err: BaseException) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    return code & 0xFF if isinstance(code, int) else None


def is_corruption(err: BaseException) -> bool:
    """True only for a damaged file (SQLITE_CORRUPT / SQLITE_NOTADB), never for EACCES, a full disk or a lock."""
    code = _primary_code(err)
    if code is not None:
        return code in (SQLITE_CORRUPT, SQLITE_NOTADB)
    text = str(err).lower()
    return isinstance(err, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text)


def is_disk_full(err: BaseException) -> bool:
    """SQLITE_FULL, or an OSError ENOSPC."""
    if isinstance(err, OSError):
        return err.errno == errno.ENOSPC
    code = _primary_code(err)
    return code == SQLITE_FULL if code is not None else "disk is full" in str(err).lower()


def check_database(path: Path, unavailable: Callable[[str], Exception] | None = None) -> str | None:
    """None if ``path`` is absent or passes ``quick_check``; otherwise what is wrong with it.

    Raises ``unavailable(message)`` (default: MemoryStoreError ``memory-unavailable``) when it
    cannot be checked for a reason that is not corruption (permissions, a lock, a full disk).
    """
    if not path.exists():
        return None
    try:
        # Read-only: a check must not checkpoint or delete a -wal that may have to be quarantined with it.
        conn = sqlite3.connect(readonly_uri(path), uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        if is_corruption(err):
            return str(err)
        message = f"{path} cannot be opened: {err}"
        if unavailable is not None:
            raise unavailable(message) from err
        raise MemoryStoreError("memory-unavailable", message) from err
    return None if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:3])


def quarantine(path: Path, now: float | None = None, *, mark: str = ".corrupt.") -> Path:
    """Move a bad database (and its -wal/-shm) aside as ``<name><mark><time>``; returns its new path."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    target = path.with_name(f"{path.name}{mark}{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{mark}{stamp}-{n}")
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    os.replace(path, target)
    return target


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the store's pragmas (autocommit mode: transactions are explicit)."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    # Deleted content is overwritten, whatever this SQLite's compile-time default: "forget" must not
    # leave the text in a free page or cell.
    conn.execute("PRAGMA secure_delete = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


def scrub(conn: sqlite3.Connection) -> bool:
    """After a delete: no copy of the deleted text left in the main file or the WAL; False if readers kept the WAL.

    FTS5 deletes by adding tombstones, so its older segments still hold the deleted words until
    ``optimize`` merges them into one (secure_delete then zeroes the freed pages).  The
    ``TRUNCATE`` checkpoint copies the WAL into the main file and empties it: the WAL's older
    frames are the pages as they were before the delete.  Run outside a transaction.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in FTS_TABLES:
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")  # noqa: S608 - fixed names
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    busy, wal_pages, moved = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        _LOGGER.warning(
            "Memory WAL not truncated after a forget (a reader held it; %d of %d pages moved)", moved, wal_pages
        )
    return not busy


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks; returns the resulting version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise MemoryStoreError(
            "memory-too-new", f"the memory database is schema {version}; this version understands {SCHEMA_VERSION}"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        _LOGGER.info("Memory database migrated to schema %d", number)
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    """Split a migration into complete statements (triggers contain semicolons)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                out.append(current.strip())
            current = ""
    return out


class MemoryStore:
    """Owns ``memory.db``: opening (check, quarantine, migrate), the writer thread, read connections."""

    def __init__(
        self,
        path: Path,
        *,
        queue_size: int = 1024,
        on_error: Callable[[str, str], None] | None = None,
    ) -> None:
        self.path = path
        self.on_error = on_error or (lambda code, message: None)
        self.quarantined: Path | None = None
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------
    def open(self) -> MemoryStore:
        """Check (quarantining a corrupt file), create with mode 0600, migrate, start the writer.

        Raises MemoryStoreError ``memory-unavailable`` for any other failure,
        leaving the file as it was (the caller reports it and runs without memory).
        """
        try:
            conn = self._open()
        except (OSError, sqlite3.Error) as err:
            message = f"{self.path} cannot be opened ({err}); memory is off, the file is left as it is"
            raise MemoryStoreError("memory-unavailable", message) from err
        self._thread = threading.Thread(target=self._write_loop, args=(conn,), name="memory-writer", daemon=True)
        self._thread.start()
        return self

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        problem = check_database(self.path)
        if problem is not None:
            self.quarantined = quarantine(self.path)
            message = f"{self.path} was corrupt ({problem}); moved to {self.quarantined.name}, starting a fresh memory"
            _LOGGER.error("%s", message)
            self.on_error("memory-corrupt", message)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)
        conn = connect(self.path)
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                _LOGGER.warning("Memory database journal mode is %s, not WAL", mode)
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self, timeout: float = 10.0) -> None:
        """Finish queued writes, stop the writer and close every connection."""
        if self._thread is not None:
            self._queue.put(_STOP, timeout=timeout)
            self._thread.join(timeout)
            self._thread = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._local = threading.local()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # -- writing ----------------------------------------------------------------
    def submit(
        self, job: Callable[[sqlite3.Connection], T], *, durable: bool = False, transaction: bool = True
    ) -> concurrent.futures.Future[T]:
        """Queue ``job(conn)`` to run in its own transaction (or, ``transaction=False``, none) on the writer
        thread; never blocks."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._thread is None:
            future.set_exception(MemoryStoreError("memory-closed", "the memory store is not open"))
            return future
        try:
            self._queue.put_nowait((job, future, durable, transaction))
        except queue.Full:
            self.dropped += 1
            _LOGGER.warning("Memory writer is behind: %d writes dropped", self.dropped)
            future.set_exception(MemoryStoreError("memory-busy", "the memory writer is behind; write dropped"))
        return future

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while (item := self._queue.get()) is not _STOP:
                job, future, durable, transaction = item
                if future.set_running_or_notify_cancel():
                    self._run(conn, job, future, durable, transaction)
        finally:
            conn.close()

    def _run(
        self,
        conn: sqlite3.Connection,
        job: Job,
        future: concurrent.futures.Future[Any],
        durable: bool,
        transaction: bool = True,
    ) -> None:
        for delay in DISK_FULL_RETRIES:
            try:
                self._attempt(conn, job, future, durable, transaction)
                return
            except sqlite3.Error as err:
                if not is_disk_full(err):
                    raise
                _LOGGER.warning("Memory write found the disk full; retrying in %.1f s", delay)
                self.on_error("disk-full", f"{self.path}: the disk is full; memory writes are retried")
                time.sleep(delay)
        try:
            self._attempt(conn, job, future, durable, transaction)
        except sqlite3.Error as err:
            future.set_exception(MemoryStoreError("disk-full", f"the disk is full; write dropped ({err})"))

    def _attempt(
        self,
        conn: sqlite3.Connection,
        job: Job,
        future: concurrent.futures.Future[Any],
        durable: bool,
        transaction: bool = True,
    ) -> None:
        """One try; a disk-full error is raised (for the retry), any other outcome settles ``future``."""
        try:
            if durable:
                conn.execute("PRAGMA synchronous = FULL")
            try:
                result = _transact(conn, job) if transaction else job(conn)
            finally:
                if durable:
                    conn.execute("PRAGMA synchronous = NORMAL")
        except MemoryStoreError as err:
            future.set_exception(err)
        except sqlite3.Error as err:
            if is_disk_full(err):
                raise
            _LOGGER.error("Memory write failed: %s", err)
            self.on_error("memory-write-failed", str(err))
            future.set_exception(MemoryStoreError("memory-write-failed", str(err)))
        except Exception as err:
            _LOGGER.exception("Memory write job failed")
            future.set_exception(err)
        else:
            self.written += 1
            future.set_result(result)

    def scrub(self) -> concurrent.futures.Future[bool]:
        """Queue :func:`scrub` (after the writes queued before it): call it after every delete of text."""
        return self.submit(scrub, transaction=False)

    # -- reading ----------------------------------------------------------------
    def reader(self) -> sqlite3.Connection:
        """This thread's read-only connection (WAL: readers never wait for the writer)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn


def _transact(conn: sqlite3.Connection, job: Job) -> Any:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = job(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (a full disk)
            conn.execute("ROLLBACK")
        raise
    return result
