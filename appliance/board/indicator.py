"""What the status LEDs show: one pattern per appliance state, decided without any hardware.

:class:`IndicatorState` folds bus events (stage, mute, error) into the state
to show; :data:`PATTERNS` says how each state looks.  The privacy indicator
wins over everything: while muted the LEDs say so, whatever else happens.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.core.events import (
    ErrorRaised,
    Event,
    MuteChanged,
    Stage,
    StageChanged,
)

STATES = ("idle", "listening", "thinking", "speaking", "muted", "error")

Colour = tuple[float, float, float]


@dataclass(frozen=True)
class Pattern:
    colour: Colour
    """Red, green, blue in 0..1 (mono LEDs use the brightest component)."""
    effect: str
    """``off``, ``solid``, ``pulse`` (fade in and out) or ``blink``."""
    period_s: float = 1.0
    """One pulse or blink cycle, seconds."""


PATTERNS: dict[str, Pattern] = {
    "idle": Pattern((0.0, 0.0, 0.0), "off"),
    "listening": Pattern((0.0, 0.35, 1.0), "solid"),
    "thinking": Pattern((0.0, 0.35, 1.0), "pulse", 1.2),
    "speaking": Pattern((0.0, 1.0, 0.35), "solid"),
    "muted": Pattern((1.0, 0.0, 0.0), "solid"),
    "error": Pattern((1.0, 0.35, 0.0), "blink", 0.4),
}


def choose_state(stage: str, muted: bool, error_until: float, now: float) -> str:
    """Muted beats a recent error, which beats the pipeline stage."""
    if muted:
        return "muted"
    if now < error_until:
        return "error"
    return stage if stage in STATES else "idle"


def scaled(colour: Colour, brightness: float) -> Colour:
    r, g, b = colour
    return (r * brightness, g * brightness, b * brightness)


class IndicatorState:
    """Folds events into the state to show; :meth:`next_change` says when an error display ends."""

    def __init__(self, *, error_hold_s: float, muted: bool = False) -> None:
        self.error_hold_s = error_hold_s
        self.stage = Stage.IDLE.value
        self.muted = muted
        self.error_until = 0.0

    def apply(self, event: Event, now: float) -> None:
        if isinstance(event, StageChanged):
            self.stage = event.stage.value
        elif isinstance(event, MuteChanged):
            self.muted = event.muted
        elif isinstance(event, ErrorRaised):
            self.error_until = now + self.error_hold_s

    def state(self, now: float) -> str:
        return choose_state(self.stage, self.muted, self.error_until, now)

    def next_change(self, now: float) -> float | None:
        """Seconds until the shown state changes by itself (an error display ending), if it will."""
        if self.error_until > now and not self.muted:
            return self.error_until - now
        return None
