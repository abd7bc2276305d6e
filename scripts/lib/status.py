"""Everything `scripts/status` shows, gathered with the standard library (works on a broken install).

Usage: status.py OPT STATE SOCKET [--json] [--systemd]
Exit codes: 0 running and healthy, 1 running but unhealthy, 3 not running.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from control import call  # a sibling helper, importable once the path is set

UNIT = "appliance.service"
PACKAGES = (
    "llama_cpp_python",
    "faster_whisper",
    "ctranslate2",
    "onnxruntime",
    "piper_tts",
    "tflite_runtime",
    "vosk",
    "paho_mqtt",
    "gpiozero",
    "lgpio",
    "Jetson.GPIO",
)


def service() -> dict[str, Any]:
    keys = "LoadState,ActiveState,SubState,MainPID,NRestarts,ActiveEnterTimestamp,StatusText,UnitFileState"
    out = _run(["systemctl", "show", UNIT, f"--property={keys}"])
    info = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    errors = _run(["journalctl", "-u", UNIT, "-p", "warning", "-n", "5", "-o", "short-iso", "--no-pager", "-q"])
    return {
        "installed": info.get("LoadState") == "loaded",
        "state": info.get("ActiveState", "unknown"),
        "sub_state": info.get("SubState", ""),
        "enabled": info.get("UnitFileState", ""),
        "pid": int(info.get("MainPID") or 0),
        "restarts": int(info.get("NRestarts") or 0),
        "since": info.get("ActiveEnterTimestamp", ""),
        "status_text": info.get("StatusText", ""),
        "journal_warnings": [line for line in errors.splitlines() if line.strip()],
    }


def daemon(socket_path: str) -> dict[str, Any]:
    try:
        reply = call(socket_path, "status", {}, timeout=5.0)
    except (OSError, ValueError) as err:
        return {"running": False, "error": f"{socket_path}: {err}"}
    if not reply.get("ok"):
        return {"running": True, "error": (reply.get("error") or {}).get("message", "status failed")}
    return {"running": True, **reply["result"]}


def install(opt: Path) -> dict[str, Any]:
    def target(name: str) -> str | None:
        link = opt / name
        return os.readlink(link).split("/")[-1] if link.is_symlink() else None

    versions = sorted(p.name for p in (opt / "versions").glob("*") if (p / ".complete").exists())
    return {"current": target("current"), "previous": target("previous"), "versions": versions}


def packages(opt: Path) -> dict[str, str]:
    """Versions of the engines in the installed venv, from their dist-info folder names."""
    found: dict[str, str] = {"python": platform.python_version()}
    sites = list((opt / "current" / "venv" / "lib").glob("python3*/site-packages"))
    for site in sites:
        for pth in site.glob("zz-appliance-base.pth"):  # a venv stacked on another one
            sites += [Path(line.strip()) for line in pth.read_text().splitlines() if line.strip()]
    for site in sites:
        for info in site.glob("*.dist-info"):
            name, _, version = info.name[: -len(".dist-info")].rpartition("-")
            if name in PACKAGES or name.replace("_", ".") in PACKAGES:
                found.setdefault(name.replace("_", "-"), version)
    return found


def resources(state: Path, pid: int) -> dict[str, Any]:
    probe = state
    while not probe.exists():
        probe = probe.parent
    disk = shutil.disk_usage(probe)
    mem = _meminfo()
    rss_mb = None
    if pid:
        match = re.search(r"VmRSS:\s+(\d+) kB", _read(f"/proc/{pid}/status"))
        rss_mb = round(int(match.group(1)) * 1024 / 1e6, 1) if match else None  # MB = 10^6 bytes
    return {
        "disk": {
            "path": str(probe),
            "free_mb": disk.free // 1_000_000,
            "total_mb": disk.total // 1_000_000,
            "used_percent": round(100 * (disk.total - disk.free) / disk.total, 1),
        },
        "memory": {
            "available_mb": mem.get("MemAvailable", 0) // 1024,
            "total_mb": mem.get("MemTotal", 0) // 1024,
            "daemon_rss_mb": rss_mb,
        },
        "load": list(os.getloadavg()),
    }


def gather(opt: Path, state: Path, socket_path: str, with_systemd: bool) -> dict[str, Any]:
    svc = service() if with_systemd else {"installed": None, "state": "no-systemd"}
    dmn = daemon(socket_path)
    pid = int(svc.get("pid") or dmn.get("pid") or 0)
    mqtt = dmn.get("mqtt") if dmn.get("running") else None
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "service": svc,
        "daemon": dmn,
        "install": install(opt),
        "packages": packages(opt),
        "mqtt": mqtt if mqtt is not None else {"configured": False},
        "errors": dmn.get("last_errors", []) if dmn.get("running") else [],
        **resources(state, pid),
        "healthy": bool(dmn.get("healthy")) and svc.get("state") in ("active", "no-systemd"),
    }


def render(s: dict[str, Any]) -> str:
    d, svc, inst = s["daemon"], s["service"], s["install"]
    lines = [f"appliance on {s['host']}  {s['time']}  {'HEALTHY' if s['healthy'] else 'NOT HEALTHY'}"]
    lines.append(f"version   {inst['current'] or 'not installed'}  (previous: {inst['previous'] or '-'})")
    if svc["state"] != "no-systemd":
        lines.append(
            f"service   {svc['state']} ({svc['sub_state']}) since {svc['since'] or '-'}, "
            f"{svc['restarts']} restarts, pid {svc['pid'] or '-'}, {svc['enabled']}  {svc['status_text']}"
        )
    else:
        lines.append("service   (systemd not running here)")
    if d.get("running") and "stage" in d:
        cap = d.get("capture", {})
        mic = cap.get("device") if cap.get("available") else f"NO MICROPHONE ({cap.get('device')})"
        lines.append(
            f"pipeline  {d['stage']}, {'MUTED' if d.get('muted') else 'listening'} for "
            f"{', '.join(d.get('wake_words', []))}; mic: {mic}; volume {d.get('volume')}; "
            f"up {_duration(d.get('uptime_s', 0))}, {d.get('turns', 0)} turns"
        )
        loops = d.get("loops", {})
        lines.append(
            "loops     "
            + ", ".join(f"{n} {'ok' if v.get('alive') else 'DEAD'}" for n, v in loops.items())
            + (f"  NOT RESPONDING: {', '.join(d['failing'])}" if d.get("failing") else "")
        )
        models = d.get("models", {}).items()
        lines.append("models    " + ", ".join(f"{k} {', '.join(v) if isinstance(v, list) else v}" for k, v in models))
        hw = d.get("hardware", {})
        lines.append(f"hardware  {hw.get('profile', '-')} (gpio {hw.get('gpio', '-')}), leds {hw.get('leds', '-')}")
    else:
        lines.append(f"daemon    NOT RUNNING ({d.get('error', '')})")
    lines.append("packages  " + ", ".join(f"{k} {v}" for k, v in s["packages"].items()))
    mqtt = s["mqtt"]
    lines.append("mqtt      " + ("not configured" if not mqtt.get("configured", True) else json.dumps(mqtt)))
    errors = [f"{time.strftime('%H:%M:%S', time.localtime(e['ts']))} {e['code']}: {e['message']}" for e in s["errors"]]
    errors += s["service"].get("journal_warnings", [])
    lines.append("errors    " + ("none" if not errors else errors[0]))
    lines += [f"          {e}" for e in errors[1:6]]
    disk, mem = s["disk"], s["memory"]
    used = f"{disk['used_percent']} % used"
    lines.append(f"disk      {disk['free_mb']} MB free of {disk['total_mb']} MB on {disk['path']} ({used})")
    rss = f"daemon {mem['daemon_rss_mb']} MB, " if mem["daemon_rss_mb"] else ""
    lines.append(f"memory    {rss}{mem['available_mb']} MB available of {mem['total_mb']} MB; load {s['load'][0]:.2f}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m"


def _meminfo() -> dict[str, int]:
    rows = (line.split() for line in _read("/proc/meminfo").splitlines())
    return {row[0].rstrip(":"): int(row[1]) for row in rows if len(row) >= 2 and row[1].isdigit()}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def main(argv: list[str]) -> int:
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    status = gather(Path(args[0]), Path(args[1]), args[2], "--systemd" in flags)
    try:
        print(json.dumps(status, indent=2, default=str) if "--json" in flags else render(status))
    except BrokenPipeError:  # `status | head`
        sys.stderr.close()
    if not status["daemon"].get("running"):
        return 3
    return 0 if status["healthy"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
