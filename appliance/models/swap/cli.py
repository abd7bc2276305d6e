"""``appliance models use|rollback|history``: the running daemon swaps; history also reads the state file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from appliance.control.local_socket import ControlClient
from appliance.core.errors import ControlError
from appliance.models.swap.state import ModelState
from appliance.settings import Settings

SWAP_TIMEOUT_S = 900.0
"""A 3B model from an SD card takes minutes to load and probe."""


def swap_command(settings: Settings, args: argparse.Namespace) -> int:
    action = args.models_command
    if action == "history":
        return _history(settings, args)
    payload = {"role": args.role} if action == "rollback" else {"role": args.role, "model": args.model}
    result = ControlClient(settings.socket_path, timeout=SWAP_TIMEOUT_S).call(f"models.{action}", payload)
    swapped = result["swapped"]
    print(
        f"{swapped['role']}: {swapped['previous']} -> {swapped['name']} (load {swapped['load_s']} s, "
        f"probe {swapped['probe_s']} s, peak RSS {swapped['rss_peak_mb']} MB)"
    )
    return 0


def _history(settings: Settings, args: argparse.Namespace) -> int:
    try:
        rows: list[dict[str, Any]] = ControlClient(settings.socket_path).call("models.history")["history"]
    except ControlError as err:
        if err.code != "daemon-not-running":
            raise
        rows = [vars(s) for s in ModelState.for_settings(settings).history]  # the daemon is down: the file
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no model has been swapped yet", file=sys.stderr)
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["swapped_in"]))
        print(f"{when}  {row['role']:5} {row['name']:28} {row['version']:14} {row['sha256'][:16]}  {row['via']}")
    return 0
