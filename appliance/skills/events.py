"""Skill events for the bus: one frozen dataclass, ``TimerEvent``, published as ``…/event/timer``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from appliance.core.events import Event


class TimerAction(str, Enum):
    STARTED = "started"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    SNOOZED = "snoozed"
    MISSED = "missed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TimerEvent(Event):
    """A timer, alarm or reminder started, finished (rang), was cancelled, snoozed or missed."""

    id: int
    kind: str
    """``timer``, ``alarm`` or ``reminder``."""
    label: str
    """The timer's name or the alarm's label (wire key ``name``: ``Event.name`` is the event's own name)."""
    action: TimerAction
    due: float
    """Unix seconds it is (or was) due."""
    name = "timer"

    def as_dict(self) -> dict[str, Any]:
        """The MQTT payload: ``{"event", "id", "kind", "name", "action", "due", "ts"}``."""
        return {
            "event": self.name, "id": self.id, "kind": self.kind, "name": self.label, "action": self.action.value,
            "due": round(self.due, 3), "ts": self.ts,
        }  # fmt: skip
