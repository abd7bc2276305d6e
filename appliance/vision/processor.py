"""One analysed frame at a time: motion gate → detectors → presence, with no threads and no clock.

:class:`VisionProcessor` is what the service runs on its worker thread and
what tests and ``appliance vision detect`` drive directly with a video's
frames and their timeline, so every decision is reproducible.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from appliance.settings import VisionSettings
from appliance.vision.camera import Frame
from appliance.vision.detect import Detection, Detector
from appliance.vision.motion import GateDecision, MotionGate
from appliance.vision.presence import PresenceMachine, PresenceState

_LOGGER = logging.getLogger(__name__)

FACES_EVENT_S = 2.0
"""While faces stay in view (same count), repeat FacesSeen at most this often."""


@dataclass
class Outcome:
    """What one frame led to."""

    t: float
    gate: GateDecision
    detections: list[Detection] | None = None
    """None when the gate skipped the detectors."""
    presence: PresenceState | None = None
    """The new presence state, when it changed on this frame."""
    faces_event: bool = False
    """True when a FacesSeen event is due."""
    seconds: float = 0.0
    """Wall-clock seconds spent in the detectors."""


@dataclass
class Latest:
    """The newest detector results (for "what do you see?", status, vision.detect)."""

    t: float | None = None
    detections: list[Detection] = field(default_factory=list)


def faces_event_due(count: int, last_count: int, t: float, last_event: float | None) -> bool:
    """FacesSeen on every change of count, and periodically while faces stay in view."""
    if count != last_count:
        return True
    return count > 0 and (last_event is None or t - last_event >= FACES_EVENT_S)


class VisionProcessor:
    def __init__(self, settings: VisionSettings, face: Detector | None, person: Detector | None) -> None:
        self.settings = settings
        self.face = face
        self.person = person
        self.gate = MotionGate(
            threshold=settings.motion_threshold, delta=settings.motion_delta, recheck_s=settings.recheck_s
        )
        self.presence = PresenceMachine(on_delay_s=settings.on_delay_s, off_delay_s=settings.off_delay_s)
        self.latest = Latest()
        self._last_person: float | None = None
        self._faces_count = 0
        self._faces_event: float | None = None

    def process(self, frame: Frame) -> Outcome:
        """Gate the frame, run the detectors if it passes, update presence."""
        decision = self.gate.check(frame.image, frame.t)
        outcome = Outcome(frame.t, decision)
        if not decision.run:
            outcome.presence = self.presence.tick(frame.t)
            return outcome
        started = time.perf_counter()
        detections = self.detect(frame.image, frame.t)
        outcome.seconds = time.perf_counter() - started
        outcome.detections = detections
        self.latest = Latest(frame.t, detections)
        faces = sum(d.kind == "face" for d in detections)
        people = sum(d.kind == "person" for d in detections)
        outcome.presence = self.presence.observe(frame.t, faces=faces, people=people)
        if faces_event_due(faces, self._faces_count, frame.t, self._faces_event):
            outcome.faces_event = True
            self._faces_event = frame.t
        self._faces_count = faces
        return outcome

    def detect(self, image: np.ndarray, t: float | None = None) -> list[Detection]:
        """Faces always; people when no face is seen or every ``person_interval_s`` (the slower detector)."""
        found = self.face.detect(image) if self.face is not None else []
        due = (
            t is None
            or not found
            or self._last_person is None
            or t - self._last_person >= self.settings.person_interval_s
        )
        if self.person is not None and due:
            found = found + self.person.detect(image)
            self._last_person = t
        return found

    def tick(self, t: float) -> PresenceState | None:
        """Time passes without a frame (camera stalled, off): apply the off-delay."""
        return self.presence.tick(t)

    def camera_stopped(self) -> None:
        """The camera went off or away: the next frame starts a fresh comparison and sighting run."""
        self.gate.reset()
        self.presence.reset()
        self.latest = Latest()
        self._faces_count = 0
