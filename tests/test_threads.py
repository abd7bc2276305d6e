"""Threads the appliance's process starts before any engine loads (Linux: /proc/self/task)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COUNT = (
    "import os; before = len(os.listdir('/proc/self/task')); import appliance, numpy; "
    "print(len(os.listdir('/proc/self/task')) - before)"
)


@pytest.mark.parametrize(("explicit", "extra_threads"), [(None, 0), ("2", 1)])
def test_numpy_gets_no_spinning_blas_worker_unless_asked_for(explicit: str | None, extra_threads: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if explicit is not None:
        env["OPENBLAS_NUM_THREADS"] = explicit
    out = subprocess.run([sys.executable, "-c", COUNT], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == extra_threads
