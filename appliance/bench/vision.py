"""The ``vision`` section of ``appliance bench``: CPU of the camera pipeline, presence latency, and the
voice loop's p50 with vision running beside it.

A synthetic live camera serves 640×480 MJPEG-like frames (real photos from
scikit-image, JPEG-encoded, decoded on read as a USB camera's MJPEG would
be, with sensor noise) at the configured rate: an empty room (``coffee``)
or a person (``astronaut``) drifting through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from appliance.bench.harness import Recording, cpu_seconds, log, run_latency, summarize
from appliance.core.bus import Bus
from appliance.core.events import PresenceChanged
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Engines
from appliance.settings import Settings, VisionSettings
from appliance.vision import build_service
from appliance.vision.camera import Frame
from appliance.vision.service import VisionService

WIDTH, HEIGHT = 640, 480


def scene_frames(person: bool, count: int = 24, seed: int = 3) -> list[bytes]:
    """JPEG frames of the empty room, or with a person moving a few pixels per frame."""
    import cv2
    from skimage import data

    room = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (WIDTH, HEIGHT))
    visitor = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (300, 300))
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        image = room.copy()
        if person:
            x = 60 + 6 * (i if i < count // 2 else count - i)
            image[100:400, x : x + 300] = visitor
        noisy = np.clip(image.astype(np.int16) + rng.normal(0, 2.0, image.shape).astype(np.int16), 0, 255)
        frames.append(cv2.imencode(".jpg", noisy.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return frames


class SceneCamera:
    """A live source that paces frames at ``fps`` and decodes JPEG on read; :meth:`show` switches scenes."""

    live = True

    def __init__(self, scenes: dict[str, list[bytes]], fps: float, scene: str = "empty") -> None:
        self.name = "bench-camera"
        self.scenes = scenes
        self.period = 1.0 / fps
        self.scene = scene
        self.switched_at = 0.0
        self.first_frame_at: float | None = None
        """Monotonic capture time of the first frame of the current scene."""
        self._i = 0
        self._next = 0.0

    def show(self, scene: str) -> float:
        """Switch scene; returns the monotonic time of the switch."""
        self.scene = scene
        self.first_frame_at = None
        self.switched_at = time.monotonic()
        return self.switched_at

    def open(self) -> None:
        self._next = time.monotonic()

    def read(self, due: Callable[[float], bool] | None = None) -> Frame | None:
        import cv2

        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next += self.period
        t = time.monotonic()
        if self.first_frame_at is None:
            self.first_frame_at = t
        frames = self.scenes[self.scene]
        self._i += 1
        if due is not None and not due(t):
            return None
        jpeg = np.frombuffer(frames[self._i % len(frames)], dtype=np.uint8)
        return Frame(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), t, self._i)

    def close(self) -> None:
        pass


def bench_settings(settings: VisionSettings) -> VisionSettings:
    return replace(settings, enabled=True, width=WIDTH, height=HEIGHT, off_delay_s=1.0)


@contextlib.asynccontextmanager
async def running_vision(
    settings: Settings, resolve: Callable[[str], Path], camera: SceneCamera
) -> AsyncIterator[tuple[VisionService, Bus]]:
    """A vision service on ``camera`` running in this process (as in the daemon) until the block ends."""
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    service = build_service(bench_settings(settings.vision), bus, resolve, lambda: camera)
    worker = threading.Thread(target=service.run, name="vision", daemon=True)
    worker.start()
    try:
        yield service, bus
    finally:
        service.stop()
        await asyncio.to_thread(worker.join, 10.0)


async def cpu_percent(seconds: float) -> float:
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    return round(100.0 * (cpu_seconds() - cpu0) / (time.monotonic() - wall0), 2)


async def measure_vision(settings: Settings, resolve: Callable[[str], Path], seconds: float) -> dict[str, Any]:
    """CPU (empty room, person present) and frame → PresenceChanged latency after the on-delay."""
    vision = bench_settings(settings.vision)
    scenes = {"empty": scene_frames(False), "person": scene_frames(True)}
    camera = SceneCamera(scenes, vision.fps)
    async with running_vision(settings, resolve, camera) as (service, bus):
        await asyncio.sleep(2.0)  # first frames, detectors loaded and warm
        empty = await cpu_percent(seconds)
        camera.show("person")
        await asyncio.sleep(2.0)
        person = await cpu_percent(seconds)
        gate = service.processor.gate
        runs = {"frames": gate.frames, "detector_runs": gate.runs, "dropped": service.dropped}
        latencies = await presence_latencies(service, camera, bus, rounds=5)
    return {
        "resolution": f"{WIDTH}x{HEIGHT}",
        "fps": vision.fps,
        "face_model": vision.face_model,
        "person_detector": vision.person_detector,
        "seconds": seconds,
        "cpu_percent_of_one_core_empty_room": empty,
        "cpu_percent_of_one_core_person_present": person,
        "on_delay_s": vision.on_delay_s,
        "presence_latency_after_on_delay_s": {
            "p50": round(statistics.median(latencies), 4) if latencies else None,
            "max": round(max(latencies), 4) if latencies else None,
            "n": len(latencies),
        },
        **runs,
    }


async def presence_latencies(service: VisionService, camera: SceneCamera, bus: Bus, *, rounds: int) -> list[float]:
    """Seconds from (first frame with the person + on-delay) to PresenceChanged(present) at a subscriber."""
    vision = service.settings
    out: list[float] = []
    with bus.subscribe(PresenceChanged, name="bench") as sub:
        for _ in range(rounds):
            camera.show("empty")
            if service.presence.present:
                await _wait_presence(sub, False, vision.off_delay_s + 10.0)
            await asyncio.sleep(0.5)
            camera.show("person")
            event = await _wait_presence(sub, True, vision.on_delay_s + 10.0)
            if event is not None and camera.first_frame_at is not None:
                out.append(event[1] - (camera.first_frame_at + vision.on_delay_s))
    return out


async def _wait_presence(sub: Any, present: bool, timeout: float) -> tuple[PresenceChanged, float] | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await asyncio.wait_for(sub.get(), timeout=left)
        except asyncio.TimeoutError:
            return None
        if event.present == present:
            return event, time.monotonic()
    return None


async def bench_vision(
    settings: Settings, engines: Engines, registry: ModelRegistry, recordings: list[Recording], seconds: float
) -> dict[str, Any]:
    """Vision CPU and latency, then the voice loop's p50 with the camera off and on, request by request."""
    log(f"vision CPU over {seconds:.0f} s per scene, presence latency")
    result = await measure_vision(settings, registry.resolve, seconds)
    camera = SceneCamera({"person": scene_frames(True)}, settings.vision.fps, "person")
    alone: list[dict[str, Any]] = []
    beside: list[dict[str, Any]] = []
    async with running_vision(settings, registry.resolve, camera) as (service, _bus):
        for recording in recordings:  # interleaved, so a busy machine's drift hits both sides alike
            service.set_camera(False)  # closed at the source: the capture thread only waits
            alone += (await run_latency(settings, engines, registry, [recording], "voice, camera off"))[0]
            service.set_camera(True)
            await asyncio.to_thread(service.next_frame, 10.0)
            beside += (await run_latency(settings, engines, registry, [recording], "voice, vision running"))[0]
    off = summarize(alone)["end_of_speech_to_first_audio_s"]["p50"]
    on = summarize(beside)["end_of_speech_to_first_audio_s"]["p50"]
    result["voice_end_of_speech_to_first_audio_p50_s"] = {
        "camera_off": off,
        "vision_running_person_present": on,
        "worse_percent": round(100 * (on - off) / off, 1) if off and on else None,
        "runs": len(recordings),
    }
    return result
