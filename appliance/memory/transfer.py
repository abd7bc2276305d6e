"""Moving memory in and out: JSON-lines export/import, online backup, verified restore.

Import is all or nothing: every line is validated first and the errors name
their line numbers; only a clean file is written, in one transaction.
Backups use SQLite's online backup API, so they are consistent while the
daemon keeps writing.  A restore is checked (``integrity_check``, schema
version) before it replaces the live file; the replaced file is kept aside.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from appliance.control.payload import decode_json
from appliance.core.errors import CommandError, MemoryStoreError
from appliance.memory import records
from appliance.memory.schema import SCHEMA_VERSION
from appliance.memory.store import SIDE_FILES, check_database, readonly_uri

MAX_ERRORS_SHOWN = 10
REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    "fact": {"text": (str,), "created": (int, float)},
    "turn": {"user_text": (str,), "started": (int, float), "ended": (int, float)},
    "event": {"text": (str,), "ts": (int, float), "event_kind": (str,), "name": (str,)},
}
OPTIONAL: dict[str, tuple[type, ...]] = {
    "reply": (str,),
    "source": (str,),
    "outcome": (str,),
    "intent": (str, type(None)),
    "emotion": (str, type(None)),
    "emotion_score": (int, float, type(None)),
    "importance": (int, float),
    "source_turn": (int, type(None)),
}


def export_lines(conn: sqlite3.Connection) -> Iterator[str]:
    """Every turn, fact and event as JSON lines, oldest first within each kind."""
    for kind in ("turn", "fact", "event"):
        col = records.TIME_COLUMN[kind]
        for row in conn.execute(f"{records.SELECT[kind]} ORDER BY {col}, id"):
            yield json.dumps(records.item_dict(kind, row), ensure_ascii=False)


def parse_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Validate every line; raise one error naming each bad line (nothing is imported then)."""
    items: list[dict[str, Any]] = []
    errors: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        problem = None
        try:  # the one decoder every inbound payload goes through: depth, surrogates, NaN
            item = decode_json(line)
            problem = _problem(item)
        except CommandError as err:
            problem = err.message
        if problem:
            errors.append(f"line {number}: {problem}")
        else:
            items.append(item)
    if errors:
        shown = "; ".join(errors[:MAX_ERRORS_SHOWN])
        more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise MemoryStoreError("import-invalid", f"{len(errors)} bad line(s), nothing imported: {shown}{more}")
    return items


def _problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "not a JSON object"
    kind = item.get("kind")
    if kind not in REQUIRED:
        return f"kind must be one of turn, fact, event (got {kind!r})"
    for key, types in REQUIRED[kind].items():
        value = item.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            return f"{kind} needs {key} ({' or '.join(t.__name__ for t in types)})"
    for key, types in OPTIONAL.items():
        if key in item and (not isinstance(item[key], types) or isinstance(item[key], bool)):
            return f"{key} has the wrong type ({type(item[key]).__name__})"
    if kind == "event" and item["event_kind"] not in records.EVENT_KINDS:
        return f"event_kind must be one of {', '.join(records.EVENT_KINDS)}"
    return None


def import_items(
    conn: sqlite3.Connection, items: list[dict[str, Any]], vectors: dict[int, Any], model: str
) -> dict[str, Any]:
    """Insert validated items (inside the writer's transaction); returns counts and new ids by kind."""
    turn_ids: dict[int, int] = {}
    new: dict[str, list[int]] = {"turn": [], "fact": [], "event": []}
    for pos, item in enumerate(items):
        if item["kind"] == "turn":
            ref = records.insert_turn(conn, records.as_row(item), vectors.get(pos), model)
            if isinstance(item.get("id"), int):
                turn_ids[item["id"]] = ref
            new["turn"].append(ref)
    for pos, item in enumerate(items):
        if item["kind"] == "fact":
            source = turn_ids.get(item.get("source_turn") or -1)
            ref = records.insert_fact(
                conn,
                item["text"],
                item["created"],
                vectors.get(pos),
                model,
                importance=float(item.get("importance", 1.0)),
                source_turn=source,
            )
            new["fact"].append(ref)
        elif item["kind"] == "event":
            new["event"].append(
                records.insert_event(
                    conn, item["ts"], item["event_kind"], item["name"], item["text"], item.get("data") or {}
                )
            )
    return {"imported": {k: len(v) for k, v in new.items()}, "ids": new}


def backup(source: sqlite3.Connection, target: Path) -> dict[str, Any]:
    """Online copy of the live database (SQLite's backup API), mode 0600; verified after."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    dest = sqlite3.connect(partial)
    try:
        source.backup(dest, pages=256)
        dest.execute("PRAGMA journal_mode = DELETE")
    finally:
        dest.close()
    problem = check_database(partial)
    if problem:
        partial.unlink(missing_ok=True)
        raise MemoryStoreError("backup-failed", f"the backup did not verify: {problem}")
    os.replace(partial, target)
    return {"path": str(target), "bytes": target.stat().st_size}


def verify_backup(path: Path) -> None:
    """Refuse anything that is not a healthy memory database of a schema this version reads."""
    if not path.is_file():
        raise MemoryStoreError("restore-missing", f"{path} does not exist")
    problem = check_database(path)
    if problem:
        raise MemoryStoreError("restore-corrupt", f"{path.name} failed its integrity check: {problem}")
    conn = sqlite3.connect(readonly_uri(path), uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise MemoryStoreError("restore-corrupt", f"{path.name}: {err}") from err
    finally:
        conn.close()
    if result != [("ok",)]:
        raise MemoryStoreError("restore-corrupt", f"{path.name} failed integrity_check: {result[0][0]}")
    if version > SCHEMA_VERSION or not {"turns", "facts", "events"} <= tables:
        raise MemoryStoreError("restore-invalid", f"{path.name} is not a memory database this version can read")


def swap_in(live: Path, candidate: Path) -> Path:
    """Replace ``live`` by a copy of ``candidate`` (store closed); the old file is kept as *.before-restore.<time>."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    kept = live.with_name(f"{live.name}.before-restore.{stamp}")
    staged = live.with_name(live.name + ".restoring")
    src = sqlite3.connect(readonly_uri(candidate), uri=True)
    fd = os.open(staged, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o600)
    os.close(fd)
    dst = sqlite3.connect(staged)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    if live.exists():
        os.replace(live, kept)
    for suffix in SIDE_FILES:
        side = live.with_name(live.name + suffix)
        if side.exists():
            os.replace(side, kept.with_name(kept.name + suffix))
    os.replace(staged, live)
    return kept
