"""The camera pipeline: sources, motion gate, detectors, presence, and the service that runs them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from appliance.core.bus import Bus
from appliance.settings import VisionSettings
from appliance.vision.camera import FrameSource, open_source
from appliance.vision.detect import load_face_detector, load_person_detector
from appliance.vision.processor import VisionProcessor
from appliance.vision.service import VisionService

__all__ = ["VisionService", "build_processor", "build_service"]


def build_processor(settings: VisionSettings, resolve: Callable[[str], Path]) -> VisionProcessor:
    """Load the configured detectors behind the motion gate and presence machine."""
    return VisionProcessor(settings, load_face_detector(settings, resolve), load_person_detector(settings, resolve))


def build_service(
    settings: VisionSettings,
    bus: Bus,
    resolve: Callable[[str], Path],
    source_factory: Callable[[], FrameSource] | None = None,
) -> VisionService:
    """The service for ``[vision]``; the source is validated now (a bad GStreamer string stops start-up)."""
    if source_factory is None:
        open_source(settings)  # raises ConfigError early
        source_factory = lambda: open_source(settings)  # noqa: E731 - a fresh source per (re)open
    return VisionService(settings, build_processor(settings, resolve), source_factory, bus)
