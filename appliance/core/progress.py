"""A dependency-free progress bar for model joins, verification, fetches and benchmarks."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Draw ``label [#####     ]  42% 61/145 MB`` on a TTY, or a line per quarter otherwise."""

    def __init__(
        self,
        label: str,
        total: float,
        *,
        unit: str = "MB",
        scale: float = 1e6,
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = max(total, 1e-9)
        self.unit = unit
        self.scale = scale
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0.0
        self._tty = self.stream.isatty()
        self._last_draw = 0.0
        self._last_quarter = -1

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def update(self, amount: float) -> None:
        """Add ``amount`` finished units (bytes, items)."""
        self.done += amount
        if not self.enabled:
            return
        fraction = min(self.done / self.total, 1.0)
        if self._tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or fraction >= 1.0:
                self._last_draw = now
                self._draw(fraction, end="\r")
        else:
            quarter = int(fraction * 4)
            if quarter > self._last_quarter and quarter < 4:
                self._last_quarter = quarter
                self._draw(fraction, end="\n")

    def finish(self) -> None:
        if self.enabled:
            self._draw(min(self.done / self.total, 1.0), end="\n")
            self.enabled = False

    def _draw(self, fraction: float, end: str) -> None:
        width = 24
        filled = int(fraction * width)
        bar = "#" * filled + " " * (width - filled)
        amounts = f"{self.done / self.scale:.0f}/{self.total / self.scale:.0f} {self.unit}"
        self.stream.write(f"{self.label} [{bar}] {fraction * 100:3.0f}% {amounts}{end}")
        self.stream.flush()
