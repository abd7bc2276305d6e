"""What the rest of the appliance gets from vision: commands, the "what do you see?" intent, context.

Commands (socket, MQTT, voice): ``camera`` {state: ON|OFF|toggle},
``snapshot`` (one JPEG into <state_dir>/snapshots/, its path returned) and
``vision.detect`` (the latest detections and presence, no pixels).  None
takes a path, so nothing reachable from outside reads or writes files
beyond the snapshot folder.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.control import args as a
from appliance.core.errors import CommandError
from appliance.vision.service import VisionService
from appliance.vision.snapshot import save_snapshot
from appliance.voice.reply import Intent

if TYPE_CHECKING:
    from appliance.control.commands import Handler

SNAPSHOT_WAIT_S = 5.0
_SEE = re.compile(
    r"\b(what (do|can) you see|what'?s in front of you|(is|are) (there )?(any ?one|any ?body|someone|somebody|people) "
    r"(here|there|in the room|around)|do you see (any ?one|any ?body|someone|somebody|me|people)|can you see me)\b",
    re.IGNORECASE,
)


def describe_scene(service: VisionService) -> str:
    """A spoken answer from the latest detections (counts only: no identities)."""
    if not service.camera_on:
        return "My camera is switched off."
    if not service.available:
        return "My camera is not working right now."
    latest = service.processor.latest
    faces = sum(d.kind == "face" for d in latest.detections)
    people = sum(d.kind == "person" for d in latest.detections)
    count = max(faces, people)
    if count == 0:
        return "I don't see anyone right now." if not service.presence.present else "I saw someone a moment ago."
    if count == 1:
        return "I can see one person." if faces else "I can see someone, but not their face."
    return f"I can see {count} people."


class SceneIntent:
    """Answers "what do you see?" locally, from the latest detections, without the LLM."""

    def __init__(self, service: VisionService) -> None:
        self.service = service

    def match(self, text: str) -> Intent | None:
        if not _SEE.search(text):
            return None
        return Intent("vision.describe", describe_scene(self.service))


def vision_commands(service: VisionService, state_dir: Path) -> dict[str, Handler]:
    """``camera``, ``snapshot`` and ``vision.detect`` for the command layer."""

    async def camera(args: Mapping[str, Any]) -> dict[str, Any]:
        on = a.on_off(args, "state", "value", current=service.camera_on)
        service.set_camera(on)
        return {"camera": "ON" if on else "OFF"}

    async def snapshot(args: Mapping[str, Any]) -> dict[str, Any]:
        frame = await asyncio.to_thread(service.next_frame, SNAPSHOT_WAIT_S)
        shot = await asyncio.to_thread(save_snapshot, frame.image, state_dir, service.settings.snapshot_max_bytes)
        return shot.as_dict()

    async def detect(args: Mapping[str, Any]) -> dict[str, Any]:
        if not service.camera_on:
            raise CommandError("camera-off", "the camera is switched off")
        return status(service)

    return {"camera": camera, "snapshot": snapshot, "vision.detect": detect}


def status(service: VisionService) -> dict[str, Any]:
    """The vision part of ``status`` (and the answer of ``vision.detect``)."""
    state = service.presence
    latest = service.processor.latest
    return {
        "camera": "ON" if service.camera_on else "OFF",
        "available": service.available,
        "source": service.source_name,
        "message": service.message,
        "present": state.present,
        "faces": state.faces,
        "people": state.people,
        "last_seen": service.wall_time(state.last_seen) if state.last_seen is not None else None,
        "summary": service.summary(),
        "detections": [d.as_dict() for d in latest.detections],
        "frames": service.frames,
        "dropped_frames": service.dropped,
        "detector_runs": service.processor.gate.runs,
    }
