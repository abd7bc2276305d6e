"""The cheap part: a frame-rate cap and a motion gate in front of the detectors.

The gate compares a small grey copy of each analysed frame (160×120) with
the previous one (frame differencing); the detectors run only when enough of
it changed, plus a periodic re-check so a person who sits still is still
seen.  Differencing against the previous frame, rather than a slowly learnt
background, lets a person who stops moving stop costing detector runs at once.  The decisions
are pure functions of plain numbers (:func:`should_run`, :class:`RateCap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GATE_SIZE = (160, 120)
"""Width, height of the grey frame the gate compares: ~1/16 of VGA, noise averages out."""


class RateCap:
    """Lets through at most ``fps`` frames per second of whatever the camera delivers."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._next: float | None = None

    def due(self, t: float) -> bool:
        """True if the frame stamped ``t`` (seconds) should be analysed."""
        if self._next is not None and t < self._next - 0.002:
            return False
        # Keep the grid when on time; start a new one after a gap (camera stall, file seek).
        self._next = t + self.period if self._next is None or t - self._next > self.period else self._next + self.period
        return True


def should_run(change: float, t: float, last_run: float | None, *, threshold: float, recheck_s: float) -> str:
    """Why the detectors should run on this frame ('first', 'motion', 'recheck'), or '' to skip it."""
    if last_run is None:
        return "first"
    if change >= threshold:
        return "motion"
    if t - last_run >= recheck_s:
        return "recheck"
    return ""


@dataclass(frozen=True)
class GateDecision:
    change: float
    """Share 0..1 of the small grey frame that differs from the previous analysed one."""
    reason: str
    """'first', 'motion', 'recheck', or '' when the detectors are skipped."""

    @property
    def run(self) -> bool:
        return bool(self.reason)


class MotionGate:
    """Frame differencing of downscaled grey frames, with a periodic re-check."""

    def __init__(self, *, threshold: float, delta: int, recheck_s: float) -> None:
        self.threshold = threshold
        self.delta = float(delta)
        self.recheck_s = recheck_s
        self._previous: np.ndarray | None = None
        self._last_run: float | None = None
        self.runs = 0
        self.frames = 0

    def check(self, image: np.ndarray, t: float) -> GateDecision:
        """Compare ``image`` (BGR) with the previous analysed frame and decide."""
        import cv2

        small = cv2.resize(image, GATE_SIZE, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        previous, self._previous = self._previous, grey
        if previous is None:
            change = 1.0
        else:
            change = float(np.count_nonzero(cv2.absdiff(grey, previous) > self.delta)) / grey.size
        reason = should_run(change, t, self._last_run, threshold=self.threshold, recheck_s=self.recheck_s)
        self.frames += 1
        if reason:
            self._last_run = t
            self.runs += 1
        return GateDecision(round(change, 4), reason)

    def reset(self) -> None:
        """Forget the previous frame (camera switched off and on, source reopened)."""
        self._previous = None
        self._last_run = None
