"""The daemon's log of bus events, and the last few errors for ``status``."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from appliance.core.bus import Bus
from appliance.core.events import (
    CameraChanged,
    CaptureStatus,
    EmotionDetected,
    ErrorRaised,
    Event,
    MuteChanged,
    PresenceChanged,
    Reply,
    StageChanged,
    Transcript,
    TurnFinished,
    VolumeChanged,
    WakeDetected,
    WakeWordChanged,
)

_LOGGER = logging.getLogger(
    "appliance.runtime.app"
)  # the name operators grep for ("INFO appliance.runtime.app: event …")

_INFO_EVENTS: tuple[type[Event], ...] = (
    WakeDetected,
    Transcript,
    Reply,
    TurnFinished,
    CaptureStatus,
    MuteChanged,
    VolumeChanged,
    WakeWordChanged,
    PresenceChanged,
    CameraChanged,
    EmotionDetected,
)
"""Logged at INFO (speech as its length; at DEBUG in full); the rest (stages, sentences, partials) at DEBUG."""


async def log_events(bus: Bus, last_errors: deque[dict[str, Any]], status_changed: Callable[[], None]) -> None:
    """A supervised loop: log every event, keep recent errors, refresh systemd's status line."""
    sub: Any
    with bus.subscribe(name="log", maxsize=1024) as sub:
        async for event in sub:
            log_event(event)
            if isinstance(event, ErrorRaised):
                last_errors.append({"ts": round(event.ts, 3), "code": event.code, "message": event.message})
            if isinstance(event, (StageChanged, MuteChanged, CaptureStatus)):
                status_changed()


def log_event(event: Event) -> None:
    data = event.as_dict()
    data.pop("ts", None)
    name = data.pop("event")
    if isinstance(event, ErrorRaised):
        _LOGGER.warning("event %s %s", name, data)
    elif isinstance(event, _INFO_EVENTS):
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("event %s %s", name, data)  # DEBUG: with what was said
        else:
            _LOGGER.info("event %s %s", name, _lengths(data))
    else:
        _LOGGER.debug("event %s %s", name, data)


SPOKEN = frozenset({"text", "transcript", "reply"})
"""Event fields that hold what someone said or was told: logged at INFO as their length only."""


def _lengths(data: dict[str, Any]) -> dict[str, Any]:
    return {k: f"<{len(v)} chars>" if k in SPOKEN and isinstance(v, str) else v for k, v in data.items()}
