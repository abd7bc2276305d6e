"""``appliance memory …``: through the running daemon's socket, or on the database directly when none runs."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from appliance.control.local_socket import ControlClient
from appliance.engines.embedding import load_embedder
from appliance.memory.admin import MemoryAdmin
from appliance.memory.service import Memory
from appliance.memory.store import MemoryStore
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings

ACTIONS = ("list", "search", "forget", "export", "import", "backup", "restore", "stats")
LONG_S = 600.0


def add_parser(sub: Any) -> None:
    """The ``memory`` sub-command and its actions."""
    memory = sub.add_parser("memory", help="list, search, forget, export, import, back up or restore the memory")
    msub = memory.add_subparsers(dest="memory_command", required=True, metavar="ACTION")
    lst = msub.add_parser("list", help="newest items first")
    lst.add_argument("--kind", choices=("fact", "turn", "event", "all"), default="all")
    lst.add_argument("--limit", type=int, default=20)
    search = msub.add_parser("search", help="hits best first, with kind, score and time")
    search.add_argument("query")
    search.add_argument("--kind", choices=("fact", "turn", "event", "all"), default="all")
    search.add_argument("--limit", type=int, default=10)
    forget = msub.add_parser("forget", help="forget what matches QUERY, or --today, or --id N --kind K")
    forget.add_argument("query", nargs="?")
    forget.add_argument("--today", action="store_true", help="everything recorded since midnight")
    forget.add_argument("--id", type=int)
    forget.add_argument("--kind", choices=("fact", "turn", "event"), default="fact")
    export = msub.add_parser("export", help="JSON lines to FILE (default: standard output)")
    export.add_argument("file", nargs="?", default="-")
    imp = msub.add_parser("import", help="JSON lines from FILE; a bad line imports nothing")
    imp.add_argument("file", type=Path)
    backup = msub.add_parser("backup", help="online copy of the database (kept in <state_dir>/backups)")
    backup.add_argument("file", nargs="?", type=Path, help="also copy the backup here")
    restore = msub.add_parser("restore", help="replace the memory by a verified backup")
    restore.add_argument("file", type=Path)
    msub.add_parser("stats", help="counts, size, models loaded at start-up")
    for parser in (lst, search, forget, export, imp, backup, restore, *msub.choices.values()):
        if not any(a.dest == "json" for a in parser._actions):
            parser.add_argument("--json", action="store_true")


def command_args(args: argparse.Namespace, state_dir: Path) -> tuple[str, dict[str, Any]]:
    """The command name and arguments for an action (staging import/restore files in the state dir)."""
    action = args.memory_command
    if action == "list":
        return "memory.list", {"kind": args.kind, "limit": args.limit}
    if action == "search":
        return "memory.search", {"query": args.query, "kind": args.kind, "limit": args.limit}
    if action == "forget":
        if args.today:
            return "memory.forget", {"since": "today"}
        if args.id is not None:
            return "memory.forget", {"id": args.id, "kind": args.kind}
        return "memory.forget", {"query": args.query or ""}
    if action == "import":
        return "memory.import", {"file": _stage(args.file, state_dir / "imports")}
    if action == "restore":
        return "memory.restore", {"file": _stage(args.file, state_dir / "backups")}
    return f"memory.{action}", {}


def _stage(path: Path, folder: Path) -> str:
    """Copy a file into the state dir folder the daemon reads from; returns its name there."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.resolve().parent == folder.resolve():
        return path.name
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{path.name}"
    shutil.copyfile(path, folder / name)
    return name


def memory_command(settings: Settings, args: argparse.Namespace) -> int:
    name, cmd_args = command_args(args, settings.state_dir)
    client = ControlClient(settings.socket_path, timeout=LONG_S)
    daemon = client.available()
    result = client.call(name, cmd_args) if daemon else asyncio.run(_local(settings, name, cmd_args))
    _deliver(args, result)
    return 0


async def _local(settings: Settings, name: str, cmd_args: dict[str, Any]) -> dict[str, Any]:
    registry = ModelRegistry(settings.state_dir, show_progress=sys.stderr.isatty())
    embedder = await asyncio.to_thread(
        load_embedder,
        settings.memory.embedding_model,
        registry.resolve,
        settings.memory.embedding_backend,
    )
    memory = Memory(settings.memory, settings.llm, MemoryStore(settings.memory_path), embedder, len)
    await asyncio.to_thread(memory.open)
    try:
        return await MemoryAdmin(memory, settings.state_dir).handlers()[name](cmd_args)
    finally:
        await asyncio.to_thread(memory.close)


def _deliver(args: argparse.Namespace, result: dict[str, Any]) -> None:
    action = args.memory_command
    if action == "export":
        path = Path(result["path"])
        if args.file == "-":
            sys.stdout.write(path.read_text(encoding="utf-8"))
            return
        shutil.copyfile(path, args.file)
        result = {**result, "copied_to": args.file}
    if action == "backup" and args.file:
        shutil.copyfile(result["path"], args.file)
        result = {**result, "copied_to": str(args.file)}
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(_human(action, result))


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _human(action: str, result: dict[str, Any]) -> str:
    if action == "list":
        rows = [
            f"{i['kind']:5} {i['id']:>6}  {_when(i.get('ended') or i.get('created') or i.get('ts'))}  "
            f"{i.get('text') or i.get('user_text')}" + (f" — {i['reply']}" if i.get("reply") else "")
            for i in result["items"]
        ]
        return "\n".join(rows) or "(nothing remembered)"
    if action == "search":
        rows = [f"{h['score']:.3f} {h['kind']:5} {h['id']:>6}  {_when(h['time'])}  {h['text']}" for h in result["hits"]]
        return "\n".join(rows) or "(no hits)"
    return "\n".join(f"{k}: {json.dumps(v, default=str)}" for k, v in result.items())
