"""Copy a live SQLite database with the online backup API, and check a copy before it is used.

Usage: sqlite_copy.py backup SOURCE DEST    consistent copy while the daemon writes
       sqlite_copy.py check DATABASE         integrity_check and row counts
Prints JSON: {"integrity": "ok", "tables": {name: rows}, "bytes": n, "sha256": hex}.
Exit codes: 0 ok, 1 failed or not intact, 2 bad usage.

The backup API copies committed pages only (an open write transaction in the
daemon is not included) and retries pages the daemon changes meanwhile, so
the copy is one consistent snapshot.  Never copy memory.db with cp: its -wal
file holds committed rows that are not in the main file yet.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def quote_identifier(name: str) -> str:
    """An SQL identifier quoted for any name a (possibly hostile) database holds: '"' doubled."""
    if "\x00" in name:
        raise sqlite3.DatabaseError(f"table name {name!r} holds a NUL")
    return '"' + name.replace('"', '""') + '"'


def refuse_link(path: Path) -> None:
    """A symbolic link is never followed: restore and update run this as root beside service-owned files."""
    if path.is_symlink():
        raise OSError(f"{path} is a symbolic link: refusing to follow it")


def describe(path: Path) -> dict[str, Any]:
    """Integrity and the row count of every table of a database that is not in use."""
    refuse_link(path)
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        integrity = "; ".join(row[0] for row in con.execute("PRAGMA integrity_check"))
        names = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        tables = {name: con.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchone()[0] for name in names}  # noqa: S608
    finally:
        con.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"integrity": integrity, "tables": tables, "bytes": path.stat().st_size, "sha256": digest}


def backup(source: Path, dest: Path) -> dict[str, Any]:
    """An online backup of ``source`` into ``dest`` (rollback journal, ready to open anywhere)."""
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist")
    sidecars = {suffix: Path(f"{source}{suffix}").exists() for suffix in ("-wal", "-shm")}
    tmp = dest.with_name(dest.name + ".part")
    for path in (source, dest, tmp):
        refuse_link(path)
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30.0)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst, pages=256, sleep=0.05)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    _keep_owner(source, sidecars)
    os.replace(tmp, dest)
    return describe(dest)


def _keep_owner(source: Path, existed: dict[str, bool]) -> None:
    """Files this process created next to the database belong to the database's owner (the daemon)."""
    owner = source.stat()
    for suffix, was_there in existed.items():
        side = Path(f"{source}{suffix}")
        if not was_there and side.exists() and os.geteuid() == 0:
            # lchown: the service may have swapped the new file for a link to /etc/shadow meanwhile
            os.chown(side, owner.st_uid, owner.st_gid, follow_symlinks=False)


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
