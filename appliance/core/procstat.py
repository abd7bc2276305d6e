"""A process's memory from /proc, in MB = 10^6 bytes (the unit every figure in the README uses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def memory_mb(pid: int | str = "self", field: str = "VmHWM") -> float:
    """``VmHWM`` (peak resident set) or ``VmRSS`` of ``pid`` in MB (10^6 bytes); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) * 1024 / 1e6, 1)  # /proc reports kB = 1024 bytes
    except OSError:
        pass
    return 0.0


M_TRIM_THRESHOLD, M_ARENA_MAX = -1, -8
"""glibc's mallopt() parameters (malloc.h)."""
MALLOC_ARENAS = 2
TRIM_THRESHOLD = 128 * 1024
"""The daemon's threads (audio, STT, LLM, TTS, MQTT, onnxruntime's) would each get a malloc arena of
their own, up to 8 per core, holding freed memory apart; and glibc raises its trim threshold as large
buffers come and go (up to 64 MB), so freed heap is kept rather than returned. Fixed at 2 arenas and
128 kB, the daemon's peak RSS over one conversation fell from 723 to 669-675 MB here (MB = 10^6;
``appliance bench --only rss``; 2 arenas alone: 702 MB)."""


_tuned = False
"""tune_malloc() succeeded in this process (freed heap goes back to the system)."""


def tune_malloc(arenas: int = MALLOC_ARENAS, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Cap glibc's malloc arenas and fix its trim threshold for this process; call it before threads start.

    The same as ``MALLOC_ARENA_MAX`` and ``MALLOC_TRIM_THRESHOLD_``, which win when the owner sets
    them.  False where there is no glibc (musl, macOS).
    """
    import ctypes
    import ctypes.util
    import os

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        done = True
        if not os.environ.get("MALLOC_ARENA_MAX"):
            done = bool(libc.mallopt(M_ARENA_MAX, arenas)) and done
        if not os.environ.get("MALLOC_TRIM_THRESHOLD_"):
            done = bool(libc.mallopt(M_TRIM_THRESHOLD, trim_threshold)) and done
        global _tuned
        _tuned = done
        return done
    except (OSError, AttributeError):
        return False


def trim_heap() -> bool:
    """Hand the free pages of every malloc arena back to the system now (glibc's ``malloc_trim(0)``).

    For after a large engine is closed: llama.cpp frees its KV cache and buffers
    into whichever arenas its loading threads used, and glibc returns only the top
    of each heap by itself.  False where there is no glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).malloc_trim(0))
    except (OSError, AttributeError):
        return False


def shrinking_run_options() -> Any:
    """onnxruntime run options that hand a run's arena growth back when the run ends.

    For the sessions that run now and then with inputs of varying size (a Piper
    sentence, a smart-turn window, a batch of memories to embed): onnxruntime's
    CPU arena otherwise keeps the largest run's buffers for good, and the
    engines' peaks stack up over a session.  Measured on the Piper voice: the
    arena kept 254 MB resident after three sentences, 150 MB with this, each
    sentence ~8 % slower (0.129 s against 0.119 s for a short one).  Not for
    the per-frame models (wake word, VAD): they would allocate afresh every 80 ms.
    None (onnxruntime's defaults) unless :func:`tune_malloc` ran: with glibc's own
    settings the memory handed back stays in per-thread malloc arenas, and an
    in-process appliance under a 10,000-command MQTT fuzz grew 83 MB instead of under 20.
    """
    if not _tuned:
        return None
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


class ShrinkingSession:
    """An onnxruntime session whose every ``run`` uses :func:`shrinking_run_options` (for code that
    calls ``session.run`` itself, such as piper's ``PiperVoice``)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._options = shrinking_run_options()

    def run(self, output_names: Any, feeds: Any, run_options: Any = None) -> Any:
        return self._session.run(output_names, feeds, run_options or self._options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)
