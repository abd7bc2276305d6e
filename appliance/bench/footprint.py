"""Start-up time and RSS of the real daemon per configuration (``python -m appliance.bench.footprint``).

Each configuration starts ``appliance run`` on a second of silence, waits for
"Ready", and reads the process's RSS and its mapped libraries: optional
engines (the camera's OpenCV and detectors, Vosk, the memory's embedding
model) must be absent from a daemon whose settings leave them off.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.wav import write_wav
from appliance.core.procstat import memory_mb

CONFIGS = {
    "default": "",
    "memory off": "[memory]\nenabled = false\n",
    "two wake words": '[wake]\nmodels = ["hey_jarvis", "alexa"]\n',
    "vision on": "[vision]\nenabled = true\n",
}
"""Label -> config file text (empty = defaults)."""
OPTIONAL_LIBRARIES = {"opencv": "cv2", "vosk": "libvosk", "blazeface": "blazeface"}
"""What each optional engine maps into the process (a substring of a /proc/PID/maps path)."""
READY_TIMEOUT_S = 300.0


def measure(config_text: str, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """Seconds from exec to "Ready", RSS then, and which optional engines the process mapped."""
    config = work / "appliance.toml"
    config.write_text(config_text, encoding="utf-8")
    silence = work / "silence.wav"
    write_wav(silence, np.zeros(SAMPLE_RATE, dtype=np.int16), SAMPLE_RATE)
    cmd = [sys.executable, "-m", "appliance", "--config", str(config), "run", "--input", str(silence)]
    cmd += ["--output", str(work / "out.wav"), "--no-control"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    ready_s: float | None = None
    try:
        for line in proc.stderr:
            if "Ready: listening" in line:
                ready_s = round(time.monotonic() - started, 2)
                break
            if time.monotonic() - started > READY_TIMEOUT_S:
                break
        rss, maps = memory_mb(proc.pid, "VmRSS"), _maps(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    loaded = sorted(name for name, needle in OPTIONAL_LIBRARIES.items() if needle in maps)
    return {"ready_s": ready_s, "rss_mb": rss, "optional_loaded": loaded}


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.bench.footprint", description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(CONFIGS), help="measure just these")
    args = parser.parse_args(argv)
    results = {}
    for label in args.only or CONFIGS:
        with tempfile.TemporaryDirectory(prefix="footprint-") as scratch:
            env = {**os.environ, "APPLIANCE_PATHS_RUNTIME_DIR": scratch, "APPLIANCE_METRICS_LISTEN": ""}
            results[label] = measure(CONFIGS[label], Path(scratch), env)
            print(f"{label}: {results[label]}", file=sys.stderr)
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
