"""The ``memory.*`` commands: list, search, forget, export, import, backup, restore, stats.

Registered in the command layer (socket, MQTT, voice share them).  Files are
only ever read or written inside the state dir: exports under ``exports/``,
imports from ``imports/``, backups under ``backups/``; names are plain file
names, never paths.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, TypeVar

from appliance.control import args as a
from appliance.core.errors import CommandError
from appliance.memory import records, transfer
from appliance.memory.intents import start_of_today
from appliance.memory.service import Memory

Items = list[dict[str, Any]]  # (a plain alias: ``list`` is a command name inside the class)
T = TypeVar("T")
Handler = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_LIMIT = 1000
MAX_TIME = 1e11
"""Unix seconds accepted in a `since` argument (year 5138)."""


class MemoryAdmin:
    """Command handlers over one :class:`Memory`."""

    def __init__(self, memory: Memory, state_dir: Path, executor: Executor | None = None) -> None:
        self.memory = memory
        self.state_dir = state_dir
        self._executor = executor
        """Where the blocking work runs: the admin pool, apart from STT and TTS (None: asyncio's default)."""

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def handlers(self) -> dict[str, Handler]:
        names = ("list", "search", "forget", "export", "backup", "restore", "stats")
        return {f"memory.{name}": getattr(self, name) for name in names} | {"memory.import": self.import_}

    # -- reading ---------------------------------------------------------------
    async def list(self, args: Mapping[str, Any]) -> dict[str, Any]:
        kinds = _kinds(args.get("kind"))
        limit = a.integer(args, "limit", 1, MAX_LIMIT, default=20)
        since = a.number(args, "since", 0, MAX_TIME, default=0.0)

        def read() -> list[dict[str, Any]]:
            conn = self.memory.store.reader()
            items = [i for k in kinds for i in records.list_items(conn, k, limit=limit, since=since)]
            items.sort(key=lambda i: i.get("ended") or i.get("created") or i.get("ts") or 0.0, reverse=True)
            return items[:limit]

        return {"items": await self._run(read)}

    async def search(self, args: Mapping[str, Any]) -> dict[str, Any]:
        query = a.text(args, "query")
        hits = await self._run(
            self.memory.search,
            query,
            limit=a.integer(args, "limit", 1, MAX_LIMIT, default=10),
            kinds=_kinds(args.get("kind")),
        )
        return {"query": query, "hits": [h.as_dict() for h in hits]}

    async def stats(self, args: Mapping[str, Any]) -> dict[str, Any]:
        data = await self._run(records.stats, self.memory.store.reader())
        path = self.memory.store.path
        size = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
        return data | {
            "path": str(path),
            "bytes": size,
            "vectors": len(self.memory.index),
            "writes": self.memory.store.written,
            "dropped_writes": self.memory.store.dropped,
            "pending_writes": self.memory.store.pending,
            "retention_days": self.memory.settings.retention_days,
        }

    # -- changing -----------------------------------------------------------------
    async def forget(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if "since" in args:
            since = args["since"]
            ts = start_of_today(time.time()) if since == "today" else a.number(args, "since", 0, MAX_TIME)
            return {"forgotten": await self.memory.forget_since(ts)}
        if "id" in args:
            kind = _kinds(args.get("kind"))[0] if args.get("kind") else "fact"
            ref = a.integer(args, "id", 0, 2**62)
            gone = await self.memory.forget_items([(kind, ref)])  # a fact takes the turns quoting it along
            counts = {kind: 0}
            for k, _ in gone:
                counts[k] = counts.get(k, 0) + 1
            return {"forgotten": counts}
        items = await self.memory.forget(a.text(args, "query"))
        return {"forgotten": [{"kind": k, "id": r, "text": t} for k, r, t in items]}

    async def export(self, args: Mapping[str, Any]) -> dict[str, Any]:
        target = self._file(args, "exports", f"memory-{time.strftime('%Y%m%dT%H%M%S')}.jsonl")

        def write() -> int:
            count = 0
            tmp = target.with_name(target.name + ".partial")
            with open(tmp, "w", encoding="utf-8", opener=_private) as out:
                for line in transfer.export_lines(self.memory.store.reader()):
                    out.write(line + "\n")
                    count += 1
            tmp.replace(target)
            return count

        return {"path": str(target), "lines": await self._run(write)}

    async def import_(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(args.get("lines"), list):
            lines = [str(line) for line in args["lines"]]
        else:
            path = self._file(args, "imports", None, must_exist=True)
            lines = (await self._run(path.read_text, encoding="utf-8")).splitlines()
        items = transfer.parse_lines(lines)
        return await self._run(self._import_items, items)

    async def backup(self, args: Mapping[str, Any]) -> dict[str, Any]:
        target = self._file(args, "backups", f"memory-{time.strftime('%Y%m%dT%H%M%S')}.db")
        return await self._run(self._backup, target)

    async def restore(self, args: Mapping[str, Any]) -> dict[str, Any]:
        source = self._file(args, "backups", None, must_exist=True)
        return await self._run(self._restore, source)

    # -- blocking parts (worker threads) ---------------------------------------------
    def _import_items(self, items: Items) -> dict[str, Any]:
        """Write validated import items in one transaction, with their vectors."""
        texts: dict[int, str] = {}
        for i, item in enumerate(items):
            if item["kind"] != "event":
                texts[i] = item["text"] if item["kind"] == "fact" else item["user_text"]
        embedder = self.memory.embedder
        vectors = dict(zip(texts, embedder.embed_batch([*texts.values()]), strict=True)) if texts else {}
        job = self.memory.store.submit(lambda c: transfer.import_items(c, items, vectors, embedder.name))
        result = job.result(timeout=600)
        self.memory.reload_index()
        return {"imported": result["imported"]}

    def _backup(self, target: Path) -> dict[str, Any]:
        return transfer.backup(self.memory.store.reader(), target)

    def _restore(self, source: Path) -> dict[str, Any]:
        """Verify ``source``, then swap it in for the live database and reload."""
        transfer.verify_backup(source)
        self.memory.store.close()
        try:
            kept = transfer.swap_in(self.memory.store.path, source)
        finally:
            self.memory.store.open()
        self.memory.reload_index()
        self.memory.conversation.clear()
        return {"restored": str(source), "previous": str(kept), "vectors": len(self.memory.index)}

    def _file(self, args: Mapping[str, Any], folder: str, default: str | None, *, must_exist: bool = False) -> Path:
        name = args.get("file", default)
        if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
            raise CommandError(
                "bad-arguments", f"file must be a plain file name inside <state_dir>/{folder}, got {name!r}"
            )
        base = self.state_dir / folder
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = base / name
        if must_exist and not path.is_file():
            raise CommandError("not-found", f"no file {name!r} in {base}")
        return path


def _private(path: str, flags: int) -> int:
    import os

    return os.open(path, flags, 0o600)


def _kinds(value: Any) -> tuple[str, ...]:
    if value in (None, "", "all"):
        return records.KINDS
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(n in records.KINDS for n in names):
        raise a.bad(f"kind must be one of {', '.join(records.KINDS)} or all, got {value!r}")
    return tuple(names)
