"""``appliance timers``: list or cancel timers, alarms and reminders (the daemon's, or skills.db directly)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
from typing import Any

from appliance.control.local_socket import ControlClient
from appliance.settings import Settings
from appliance.skills.commands import skill_commands
from appliance.skills.engine import Skills
from appliance.skills.store import FILENAME, SkillStore


def add_parser(sub: Any) -> None:
    """The ``timers`` sub-command: ``appliance timers [--json]``, ``appliance timers cancel ID|--all``."""
    timers = sub.add_parser("timers", help="list timers, alarms and reminders, or cancel them")
    timers.add_argument("--json", action="store_true")
    tsub = timers.add_subparsers(dest="timers_command", metavar="ACTION")
    cancel = tsub.add_parser("cancel", help="cancel one by id, or --all")
    cancel.add_argument("id", nargs="?", type=int)
    cancel.add_argument("--all", action="store_true", help="every timer, alarm and reminder")
    cancel.add_argument("--json", action="store_true")


def command_args(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if getattr(args, "timers_command", None) != "cancel":
        return "timers.list", {}
    if args.all:
        return "timer.cancel", {"all": True, "kind": "any"}
    if args.id is None:
        raise SystemExit("appliance timers cancel: give an ID or --all")
    return "timer.cancel", {"id": args.id, "kind": "any"}


def timers_command(settings: Settings, args: argparse.Namespace) -> int:
    name, cmd_args = command_args(args)
    client = ControlClient(settings.socket_path, timeout=30.0)
    result = client.call(name, cmd_args) if client.available() else asyncio.run(_local(settings, name, cmd_args))
    print(json.dumps(result, indent=2, default=str) if args.json else _human(result))
    return 0


async def _local(settings: Settings, name: str, cmd_args: dict[str, Any]) -> dict[str, Any]:
    """No daemon: the same command on the database itself (nothing rings; the daemon does that)."""
    from appliance.skills.clock import zone

    s = settings.skills
    skills = Skills(
        SkillStore(settings.state_dir / FILENAME), tz=zone(s.timezone), now=time.time, clock_24h=s.clock_24h
    )
    await asyncio.to_thread(skills.open)
    try:
        return await skill_commands(skills, settings.skills)[name](cmd_args)
    finally:
        await asyncio.to_thread(skills.close)


def _human(result: dict[str, Any]) -> str:
    rows = []
    for t in result.get("timers", []):
        due = dt.datetime.fromtimestamp(t["due"]).strftime("%a %H:%M:%S") if t.get("due") else "-"
        label = t.get("name") or t.get("text") or ""
        left = f"{t['remaining_s']:.0f} s left" if t.get("remaining_s") is not None else ""
        rows.append(f"{t['id']:>4} {t['kind']:8} {t['state']:9} {due}  {left:12} {t.get('repeat') or ''} {label}")
    if rows:
        return "\n".join(rows)
    if "timers" in result:
        return "(no timers, alarms or reminders)"
    return "\n".join(f"{k}: {json.dumps(v, default=str)}" for k, v in result.items())
