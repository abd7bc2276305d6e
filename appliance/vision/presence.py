"""Presence: a pure state machine from detections to "someone is here", with on/off delays.

Times are plain seconds on one clock (the frames' timeline); the machine
never reads a clock itself, so tests drive it with numbers.  Someone must
be seen continuously (every observation positive) for ``on_delay_s`` before
presence turns on, and nobody seen for ``off_delay_s`` before it turns off.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PresenceState:
    present: bool
    faces: int
    people: int
    last_seen: float | None
    """Seconds (the machine's clock) someone was last seen; None = never."""
    since: float
    """Seconds at which ``present`` last changed (0 before the first change)."""


class PresenceMachine:
    """Feed it observations (:meth:`observe`) and the passing of time (:meth:`tick`)."""

    def __init__(self, *, on_delay_s: float, off_delay_s: float) -> None:
        self.on_delay_s = on_delay_s
        self.off_delay_s = off_delay_s
        self.present = False
        self.faces = 0
        self.people = 0
        self.last_seen: float | None = None
        self.since = 0.0
        self._candidate: float | None = None
        """When the current unbroken run of sightings began (while absent)."""

    @property
    def state(self) -> PresenceState:
        return PresenceState(self.present, self.faces, self.people, self.last_seen, self.since)

    def observe(self, t: float, *, faces: int, people: int) -> PresenceState | None:
        """One analysed frame's counts; returns the new state if presence changed."""
        self.faces, self.people = faces, people
        if faces or people:
            self.last_seen = t
            if not self.present and self._candidate is None:
                self._candidate = t
        elif not self.present:
            self._candidate = None  # the run of sightings broke: start the on-delay again
        return self.tick(t)

    def tick(self, t: float) -> PresenceState | None:
        """Apply the delays at time ``t``; returns the new state if presence changed."""
        if not self.present and self._candidate is not None and t - self._candidate >= self.on_delay_s:
            return self._change(True, t)
        if self.present and (self.last_seen is None or t - self.last_seen >= self.off_delay_s):
            return self._change(False, t)
        return None

    def reset(self) -> None:
        """Forget the current sighting run (camera off): presence keeps its value until the off-delay."""
        self._candidate = None
        self.faces = self.people = 0

    def _change(self, present: bool, t: float) -> PresenceState:
        self.present = present
        self.since = t
        self._candidate = None
        if not present:
            self.faces = self.people = 0
        return self.state


def describe(state: PresenceState | None, now: float, *, camera_on: bool = True, available: bool = True) -> str:
    """One sentence for the LLM's context and the status: who is here, or how long nobody has been."""
    if not camera_on:
        return "The camera is switched off, so you cannot see the room."
    if not available or state is None:
        return "The camera is not working right now, so you cannot see the room."
    if state.present:
        if state.faces > 1 or state.people > 1:
            return f"You can see {max(state.faces, state.people)} people in the room."
        return "Someone is in the room."
    if state.last_seen is None:
        return "Nobody has been seen in the room since you started."
    return f"Nobody has been seen in the room for {_duration(now - state.last_seen)}."


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"
