"""``appliance doctor``: what a maintainer checks first — audio devices, models, disk, config, daemon."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.cli.models import default_models
from appliance.control.local_socket import ControlClient
from appliance.core.errors import ApplianceError
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings

MIN_FREE_MB = 500


def audio_devices() -> dict[str, Any]:
    try:
        import sounddevice as sd
    except OSError as err:
        return {"ok": False, "error": f"PortAudio missing: {err}", "inputs": [], "outputs": []}
    try:
        devices = sd.query_devices()
    except Exception as err:  # noqa: BLE001 - report whatever PortAudio says
        return {"ok": False, "error": str(err), "inputs": [], "outputs": []}
    inputs = [f"{i}: {d['name']}" for i, d in enumerate(devices) if d["max_input_channels"] > 0]
    outputs = [f"{i}: {d['name']}" for i, d in enumerate(devices) if d["max_output_channels"] > 0]
    return {
        "ok": bool(inputs and outputs),
        "inputs": inputs,
        "outputs": outputs,
        "error": "" if inputs else "no capture device (the daemon runs headless and retries)",
    }


def check_models(settings: Settings) -> dict[str, Any]:
    registry = ModelRegistry(settings.state_dir, show_progress=False)
    rows = {name: registry.status(name).as_dict() for name in default_models(settings, registry)}
    bad = {n: r for n, r in rows.items() if r["state"] in ("missing", "size-mismatch", "sha256-mismatch")}
    return {
        "ok": not bad,
        "models": {n: r["state"] for n, r in rows.items()},
        "fix": sorted({r["install"] for r in bad.values()}),
    }


def check_disk(settings: Settings) -> dict[str, Any]:
    path = settings.state_dir
    probe = path if path.exists() else Path(path.anchor or "/")
    usage = shutil.disk_usage(probe)
    free_mb = usage.free // 1_000_000
    writable = os.access(probe, os.W_OK)
    return {"ok": free_mb >= MIN_FREE_MB and writable, "state_dir": str(path), "free_mb": free_mb, "writable": writable}


def check_daemon(settings: Settings) -> dict[str, Any]:
    client = ControlClient(settings.socket_path, timeout=3.0)
    if not client.available():
        return {"ok": True, "running": False, "socket": str(settings.socket_path)}
    try:
        status = client.call("status")
    except ApplianceError as err:
        return {"ok": False, "running": True, "error": err.message}
    return {
        "ok": bool(status.get("healthy")),
        "running": True,
        "stage": status.get("stage"),
        "capture": status.get("capture"),
    }


def doctor_command(settings: Settings, args: argparse.Namespace) -> int:
    report = {
        "version": __version__,
        "python": sys.version.split()[0],
        "config": {"ok": True, "device_id": settings.device_id},
        "audio": audio_devices(),
        "models": check_models(settings),
        "disk": check_disk(settings),
        "daemon": check_daemon(settings),
    }
    critical: tuple[str, ...] = ("config", "models", "disk", "daemon")
    if getattr(args, "echo", False):
        from appliance.audio.echo_check import echo_self_test

        a = settings.audio
        log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        report["echo"] = echo_self_test(a.output_device, a.input_device, volume=a.volume, log=log)
        critical = (*critical, "echo")
    ok = all(report[key]["ok"] for key in critical)  # type: ignore[index]
    if args.json:
        print(json.dumps({**report, "ok": ok}, indent=2))
    else:
        for key in ("config", "audio", "models", "disk", "daemon", "echo"):
            if key not in report:
                continue
            section = report[key]
            mark = "ok " if section["ok"] else ("!! " if key in critical else "-- ")  # type: ignore[index]
            details = {k: v for k, v in section.items() if k != "ok"}  # type: ignore[union-attr,attr-defined]
            print(f"{mark}{key:8} {json.dumps(details)}")
    return 0 if ok else 1
