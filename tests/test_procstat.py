"""The daemon's memory reading and its malloc tuning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from appliance.core.procstat import memory_mb


def test_memory_is_read_in_mb_of_a_million_bytes():
    peak, now = memory_mb(), memory_mb(field="VmRSS")
    assert 0 < now <= peak
    status = Path("/proc/self/status").read_text(encoding="ascii")
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    assert abs(peak - kb * 1024 / 1e6) < 5.0  # read a moment later, the peak may have grown a little
    assert memory_mb(pid=2**22 + 7) == 0.0  # no such process


def _tuned(env: dict[str, str]) -> str:
    code = "from appliance.core.procstat import tune_malloc; print(tune_malloc())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_malloc_is_tuned_unless_the_owner_tuned_it():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert _tuned(env) == "True"  # glibc here: both mallopt calls took
    assert _tuned({**env, "MALLOC_ARENA_MAX": "4", "MALLOC_TRIM_THRESHOLD_": "1048576"}) == "True"
