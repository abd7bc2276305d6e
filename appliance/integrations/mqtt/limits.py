"""Pure decisions about time: reconnect backoff, command rate limits, error-event throttling.

Every function takes the clock and the random source as arguments, so the
rules are tested with plain numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


def backoff_delay(failures: int, *, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before the next connection attempt after ``failures`` in a row.

    Doubles from ``base_s`` up to ``cap_s``, then "equal jitter": a random
    point in the upper half, so a fleet restarted with its broker does not
    reconnect in lock-step.
    """
    rng = rng or random.Random()
    delay = min(cap_s, base_s * (2 ** min(failures, 30)))
    return delay / 2 + rng.uniform(0, delay / 2)


def birth_delay(max_s: float, rng: random.Random | None = None) -> float:
    """Random wait before re-announcing after Home Assistant's birth message (spreads the load)."""
    return (rng or random.Random()).uniform(0.0, max_s)


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; one token per command."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, now: float) -> bool:
        """True if a command arriving at ``now`` (monotonic seconds) may run."""
        if self.updated is not None:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class ErrorThrottle:
    """At most ``per_window`` error events per code per window; the rest are counted and summarised.

    A flood of bad commands must not turn into a flood of error events (each
    one a row in the outbox), yet no refusal may go unreported.
    """

    per_window: int = 5
    window_s: float = 1.0
    _window_start: dict[str, float] = field(default_factory=dict)
    _sent: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)

    def admit(self, code: str, now: float) -> bool:
        """True if an error event with ``code`` may go out now; otherwise it is counted."""
        start = self._window_start.get(code)
        if start is None or now - start >= self.window_s:
            self._window_start[code] = now
            self._sent[code] = 0
        if self._sent[code] < self.per_window:
            self._sent[code] += 1
            return True
        self.suppressed[code] = self.suppressed.get(code, 0) + 1
        return False

    def due(self, now: float) -> dict[str, int]:
        """Counts of suppressed events whose window has closed (to report as one summary each)."""
        ready = {
            code: count
            for code, count in self.suppressed.items()
            if now - self._window_start.get(code, now) >= self.window_s
        }
        for code in ready:
            del self.suppressed[code]
        return ready
