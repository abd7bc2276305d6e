"""A process's memory from /proc, in MB = 10^6 bytes (the unit every figure in the README uses)."""

from __future__ import annotations

from pathlib import Path


def memory_mb(pid: int | str = "self", field: str = "VmHWM") -> float:
    """``VmHWM`` (peak resident set) or ``VmRSS`` of ``pid`` in MB (10^6 bytes); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) * 1024 / 1e6, 1)  # /proc reports kB = 1024 bytes
    except OSError:
        pass
    return 0.0
