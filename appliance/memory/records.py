"""What the memory holds, and the SQL that writes and reads it (jobs for the store's writer thread)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from appliance.memory.quotes import FactMarks, quotes_any

KINDS = ("turn", "fact", "event")
EVENT_KINDS = ("home", "vision", "system")


@dataclass(frozen=True)
class TurnRow:
    """One exchange: what was heard, what was answered, how it sounded and how long it took."""

    started: float
    """Unix seconds."""
    ended: float
    """Unix seconds."""
    user_text: str
    reply: str = ""
    source: str = "voice"
    outcome: str = "answered"
    intent: str | None = None
    emotion: str | None = None
    emotion_score: float | None = None
    """0..1 confidence of ``emotion``."""
    prosody: dict[str, float] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """Per-stage seconds."""


@dataclass(frozen=True)
class ModelLoad:
    name: str
    role: str
    version: str
    sha256: str
    path: str


def vector_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def blob_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


# -- writes (run inside the writer's transaction) ---------------------------------


def insert_turn(conn: sqlite3.Connection, row: TurnRow, vector: np.ndarray | None, model: str) -> int:
    cur = conn.execute(
        "INSERT INTO turns (started, ended, source, user_text, reply, outcome, intent, emotion, emotion_score,"
        " prosody, timings) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            row.started,
            row.ended,
            row.source,
            row.user_text,
            row.reply,
            row.outcome,
            row.intent,
            row.emotion,
            row.emotion_score,
            _dumps(row.prosody),
            _dumps(row.timings),
        ),
    )
    turn_id = int(cur.lastrowid or 0)
    if vector is not None:
        conn.execute(
            "INSERT INTO embeddings (kind, ref, model, vector) VALUES ('turn', ?, ?, ?)",
            (turn_id, model, vector_blob(vector)),
        )
    return turn_id


def insert_fact(
    conn: sqlite3.Connection,
    text: str,
    created: float,
    vector: np.ndarray | None,
    model: str,
    *,
    importance: float = 1.0,
    source_turn: int | None = None,
) -> int:
    cur = conn.execute(
        "INSERT INTO facts (created, text, importance, source_turn) VALUES (?,?,?,?)",
        (created, text, importance, source_turn),
    )
    fact_id = int(cur.lastrowid or 0)
    if vector is not None:
        conn.execute(
            "INSERT INTO embeddings (kind, ref, model, vector) VALUES ('fact', ?, ?, ?)",
            (fact_id, model, vector_blob(vector)),
        )
    return fact_id


def insert_event(conn: sqlite3.Connection, ts: float, kind: str, name: str, text: str, data: dict[str, Any]) -> int:
    cur = conn.execute(
        "INSERT INTO events (ts, kind, name, text, data) VALUES (?,?,?,?,?)", (ts, kind, name, text, _dumps(data))
    )
    return int(cur.lastrowid or 0)


def link_facts(conn: sqlite3.Connection, fact_ids: Iterable[int], turn_id: int) -> None:
    conn.executemany("UPDATE facts SET source_turn = ? WHERE id = ?", [(turn_id, f) for f in fact_ids])


def delete_items(conn: sqlite3.Connection, items: Iterable[tuple[str, int]]) -> int:
    """Delete (kind, id) pairs; embeddings and full-text rows go with them (triggers)."""
    count = 0
    for kind, ref in items:
        table = _table(kind)
        count += conn.execute(f"DELETE FROM {table} WHERE id = ?", (ref,)).rowcount  # noqa: S608 - fixed names
    return count


def with_quotes(conn: sqlite3.Connection, items: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """``items`` and, for each fact among them, its source turn and every turn and event quoting it.

    Run on the writer before the delete, so it sees every turn queued before the forget.  The
    rule is :mod:`.quotes`; the turns are scanned whole (a forget is rare, the scan is text only).
    """
    out = dict.fromkeys(items)
    facts = [ref for kind, ref in out if kind == "fact"]
    if not facts:
        return list(out)
    placeholders = ",".join("?" * len(facts))
    rows = conn.execute(f"SELECT text, source_turn FROM facts WHERE id IN ({placeholders})", facts)  # noqa: S608
    marks = []
    for text, source_turn in rows.fetchall():
        marks.append(FactMarks.of(text))
        if source_turn is not None:
            out[("turn", int(source_turn))] = None
    for ref, user_text, reply in conn.execute("SELECT id, user_text, reply FROM turns"):
        if quotes_any(user_text, marks) or quotes_any(reply, marks):
            out[("turn", int(ref))] = None
    for ref, text, data in conn.execute("SELECT id, text, coalesce(data, '') FROM events"):
        if quotes_any(text, marks) or quotes_any(data, marks):
            out[("event", int(ref))] = None
    return list(out)


def delete_since(conn: sqlite3.Connection, since: float) -> dict[str, int]:
    """Everything recorded at or after ``since`` (``forget everything from today``)."""
    return {
        "fact": conn.execute("DELETE FROM facts WHERE created >= ?", (since,)).rowcount,
        "turn": conn.execute("DELETE FROM turns WHERE ended >= ?", (since,)).rowcount,
        "event": conn.execute("DELETE FROM events WHERE ts >= ?", (since,)).rowcount,
    }


def prune(conn: sqlite3.Connection, before: float) -> dict[str, int]:
    """Retention: drop turns and events older than ``before``; facts stay until forgotten."""
    return {
        "turn": conn.execute("DELETE FROM turns WHERE ended < ?", (before,)).rowcount,
        "event": conn.execute("DELETE FROM events WHERE ts < ?", (before,)).rowcount,
    }


def record_models(conn: sqlite3.Connection, loads: Iterable[ModelLoad], now: float) -> int:
    rows = [(now, m.name, m.role, m.version, m.sha256, m.path) for m in loads]
    conn.executemany(
        "INSERT INTO model_loads (loaded_at, name, role, version, sha256, path) VALUES (?,?,?,?,?,?)", rows
    )
    return len(rows)


def _table(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown memory kind {kind!r}")
    return {"turn": "turns", "fact": "facts", "event": "events"}[kind]


# -- reads ------------------------------------------------------------------------


def item_dict(kind: str, row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    """A JSON-ready item, the form of ``memory list`` and of export lines."""
    if kind == "turn":
        keys = ("id", "started", "ended", "source", "user_text", "reply", "outcome", "intent", "emotion")
        data = dict(zip((*keys, "emotion_score", "prosody", "timings"), row, strict=True))
        for key in ("prosody", "timings"):
            data[key] = json.loads(data[key]) if data[key] else None
    elif kind == "fact":
        data = dict(zip(("id", "created", "text", "importance", "source_turn"), row, strict=True))
    else:
        data = dict(zip(("id", "ts", "kind", "name", "text", "data"), row, strict=True))
        data["event_kind"] = data.pop("kind")
        data["data"] = json.loads(data["data"]) if data["data"] else None
    return {"kind": kind, **data}


SELECT = {
    "turn": "SELECT id, started, ended, source, user_text, reply, outcome, intent, emotion, emotion_score,"
    " prosody, timings FROM turns",
    "fact": "SELECT id, created, text, importance, source_turn FROM facts",
    "event": "SELECT id, ts, kind, name, text, data FROM events",
}
TIME_COLUMN = {"turn": "ended", "fact": "created", "event": "ts"}


def list_items(conn: sqlite3.Connection, kind: str, *, limit: int, since: float = 0.0) -> list[dict[str, Any]]:
    """Newest first."""
    col = TIME_COLUMN[kind]
    sql = f"{SELECT[kind]} WHERE {col} >= ? ORDER BY {col} DESC, id DESC LIMIT ?"
    return [item_dict(kind, r) for r in conn.execute(sql, (since, limit))]


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    counts = {k: conn.execute(f"SELECT count(*) FROM {_table(k)}").fetchone()[0] for k in KINDS}  # noqa: S608
    oldest = conn.execute("SELECT min(ended) FROM turns").fetchone()[0]
    return {
        "counts": counts,
        "embeddings": conn.execute("SELECT count(*) FROM embeddings").fetchone()[0],
        "oldest_turn": oldest,
        "schema": conn.execute("PRAGMA user_version").fetchone()[0],
        "models": [
            dict(zip(("loaded_at", "name", "role", "version", "sha256", "path"), r, strict=True))
            for r in conn.execute(
                "SELECT loaded_at, name, role, version, sha256, path FROM model_loads"
                " WHERE loaded_at = (SELECT max(loaded_at) FROM model_loads) ORDER BY name"
            )
        ],
    }


def as_row(data: dict[str, Any]) -> TurnRow:
    """The TurnRow for an exported/imported turn dict (unknown keys ignored)."""
    names = set(TurnRow.__dataclass_fields__)
    return TurnRow(**{k: v for k, v in data.items() if k in names})


def turn_dict(row: TurnRow) -> dict[str, Any]:
    return asdict(row)
