"""Copy a live SQLite database without following a link, and check a copy before it is used.

Usage: sqlite_copy.py backup SOURCE DEST    consistent copy while the daemon writes
       sqlite_copy.py check DATABASE         integrity_check and row counts
Prints JSON: {"integrity": "ok", "tables": {name: rows}, "bytes": n, "sha256": hex}.
Exit codes: 0 ok, 1 failed, refused or not intact, 2 bad usage.

scripts/backup runs ``backup`` as root on a folder the service user writes, so
any name there may become a link at any moment. SOURCE's folder, SOURCE and
its -wal/-journal are each opened once with O_NOFOLLOW and must be regular
files owned by the folder's owner (or made there by this user: one name, its
uid); their bytes are copied from those
descriptors into a private folder (0700, this user's), and SQLite opens only
that copy. Handing SQLite a path is not enough, not even /proc/self/fd/N: it
resolves that link back to the file's name and opens the name again, which
the service can swap in between.

The copy holds committed transactions only (SQLite's recovery of the copied
-wal stops at the last commit frame), and SQLite's online backup API then
turns it into one self-contained file. Never copy memory.db with plain cp:
its -wal holds committed rows that are not in the main file yet.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
SIDECARS = ("-wal", "-journal")  # what SQLite reads beside a database (-shm is rebuilt from the -wal)
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
WAL_HEADER = 32
"""Bytes: magic, version, page size, checkpoint sequence, salts, checksum."""
ATTEMPTS = 5
CHUNK = 1024 * 1024
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Refused(OSError):
    """A file the copy must not read: a link, not a regular file, or not the folder owner's."""


def quote_identifier(name: str) -> str:
    """An SQL identifier quoted for any name a (possibly hostile) database holds: '"' doubled."""
    if "\x00" in name:
        raise sqlite3.DatabaseError(f"table name {name!r} holds a NUL")
    return '"' + name.replace('"', '""') + '"'


def refuse_link(path: Path) -> None:
    """A symbolic link is never followed: restore and update run this as root beside service-owned files."""
    if path.is_symlink():
        raise Refused(f"{path} is a symbolic link: refusing to follow it")


def open_folder(path: Path) -> int:
    """A descriptor of the folder ``path``, refused when ``path`` itself is a link."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR) and path.is_symlink():
            raise Refused(f"{path} is a symbolic link: refusing to follow it") from err
        raise


def open_pinned(folder: int, name: str, where: Path) -> int | None:
    """``name`` in the open ``folder`` for reading, never through a link; None when there is none."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise Refused(f"{where / name} is a symbolic link: refusing to follow it") from err
        raise
    found, owner = os.fstat(fd), os.fstat(folder).st_uid
    problem = ""
    if not stat.S_ISREG(found.st_mode):
        problem = "is not a regular file"
    elif found.st_uid != owner and not (found.st_uid == os.geteuid() and found.st_nlink == 1):
        # Not the folder owner's: only a file this user made there itself (one name) is read; a hard
        # link to someone else's file, planted by the folder's owner, has two names or another owner.
        problem = f"belongs to uid {found.st_uid}, not to uid {owner} who owns {where}"
    if problem:
        os.close(fd)
        raise Refused(f"{where / name} {problem}: refusing to read it")
    return fd


def snapshot(source: Path, copy: Path) -> None:
    """``source`` and its sidecars copied byte for byte from pinned descriptors to ``copy`` and beside it."""
    folder = open_folder(source.parent)
    try:
        for attempt in range(ATTEMPTS):
            if _copy_once(folder, source, copy):
                return
            time.sleep(0.05 * (attempt + 1))  # a checkpoint restarted the -wal, or a file was replaced: again
    finally:
        os.close(folder)
    raise OSError(f"{source} kept changing while it was copied ({ATTEMPTS} tries): run the backup again")


def _copy_once(folder: int, source: Path, copy: Path) -> bool:
    """One byte copy; False when it may not be consistent (nothing of it is used then)."""
    # Why a byte copy of a database the daemon writes is consistent when this returns True:
    # in WAL mode the main file changes only by checkpoints, which write pages that are already
    # committed in the -wal. The main file is copied first and the -wal after it, so every page a
    # checkpoint wrote meanwhile is in the copied -wal too, and SQLite's recovery of that -wal
    # (frames up to the last commit whose checksums hold) overrides it. That breaks only when the
    # -wal restarts (new salts in its header) or a file is replaced, so both are checked afterwards.
    # Without a valid -wal header (rollback journal, no -wal yet) the files must not change at all.
    fds: dict[str, int | None] = {}
    try:
        for suffix in ("", *SIDECARS):  # main file first: see above
            fds[suffix] = open_pinned(folder, source.name + suffix, source.parent)
        if fds[""] is None:
            raise FileNotFoundError(f"{source} does not exist")
        before = _moment(fds)
        for suffix, fd in fds.items():
            target = copy.with_name(copy.name + suffix)
            target.unlink(missing_ok=True)
            if fd is not None:
                _copy_fd(fd, target)
        return _moment(fds) == before and _still_named(folder, source.name, fds)
    finally:
        for fd in fds.values():
            if fd is not None:
                os.close(fd)


def _moment(fds: dict[str, int | None]) -> tuple[Any, ...]:
    """What must be the same before and after a consistent copy."""
    wal = fds["-wal"]
    header = os.pread(wal, WAL_HEADER, 0) if wal is not None else b""
    if len(header) == WAL_HEADER and header[:4] in WAL_MAGIC:
        return (header,)
    stamps = [None if fd is None else os.fstat(fd) for fd in fds.values()]
    return (header, *((s.st_size, s.st_mtime_ns, s.st_ctime_ns) if s else None for s in stamps))


def _still_named(folder: int, name: str, fds: dict[str, int | None]) -> bool:
    """Each name still leads to the file that was copied (or still to none)."""
    for suffix, fd in fds.items():
        try:
            now = os.stat(name + suffix, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if fd is None or now is None:
            if (fd is None) != (now is None):
                return False
            continue
        pinned = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (pinned.st_dev, pinned.st_ino):
            return False
    return True


def _copy_fd(fd: int, target: Path) -> None:
    with open(target, "xb") as out:
        offset = 0
        while chunk := os.pread(fd, CHUNK, offset):
            out.write(chunk)
            offset += len(chunk)


def backup(source: Path, dest: Path) -> dict[str, Any]:
    """A consistent, checked copy of the live database ``source`` in ``dest`` (one rollback-journal file)."""
    part = dest.with_name(dest.name + ".part")
    for path in (dest, part):
        refuse_link(path)
    with tempfile.TemporaryDirectory(prefix="sqlite_copy-") as private:
        live = Path(private) / "live.db"
        snapshot(source, live)
        made = Path(private) / "backup.db"
        src = sqlite3.connect(live)  # the private copy: SQLite recovers its -wal here
        dst = sqlite3.connect(made)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
            src.close()
        info = describe(made)
        if info["integrity"] != "ok":
            return info
        part.unlink(missing_ok=True)
        with open(made, "rb") as data, os.fdopen(os.open(part, NEW_FILE_FLAGS, 0o600), "wb") as out:
            shutil.copyfileobj(data, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
    os.replace(part, dest)
    return info


def describe(path: Path) -> dict[str, Any]:
    """Integrity and the row count of every table of a database no one else writes (a private copy)."""
    refuse_link(path)
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        integrity = "; ".join(row[0] for row in con.execute("PRAGMA integrity_check"))
        names = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        tables = {name: con.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchone()[0] for name in names}  # noqa: S608
    finally:
        con.close()
    digest = hashlib.sha256()
    fd = os.open(path, READ_FLAGS)
    try:
        size = os.fstat(fd).st_size
        while chunk := os.read(fd, CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return {"integrity": integrity, "tables": tables, "bytes": size, "sha256": digest.hexdigest()}


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 3 and argv[0] == "backup":
            info = backup(Path(argv[1]), Path(argv[2]))
        elif len(argv) == 2 and argv[0] == "check":
            info = describe(Path(argv[1]))
        else:
            print(__doc__, file=sys.stderr)
            return EXIT_USAGE
    except (OSError, sqlite3.Error) as err:
        print(f"sqlite_copy.py: {err}", file=sys.stderr)
        return EXIT_FAIL
    print(json.dumps(info, indent=2))
    return EXIT_OK if info["integrity"] == "ok" else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
