"""The pipeline end to end: a generated video of real photos through the motion gate, the real
BlazeFace and the presence machine; the service's threads, errors, retries, switch and snapshots."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from appliance.bench.vision import SceneCamera, scene_frames
from appliance.core.bus import Bus
from appliance.core.errors import VisionError
from appliance.core.events import (
    CameraChanged,
    ErrorRaised,
    FacesSeen,
    PresenceChanged,
)
from appliance.settings import VisionSettings
from appliance.vision import build_processor, build_service
from appliance.vision.camera import CaptureSource, open_source
from appliance.vision.motion import RateCap
from appliance.vision.snapshot import save_snapshot

FPS = 5.0
PLAN = (("empty", 2.0), ("moving", 2.0), ("still", 4.0), ("empty", 6.0))
"""Scenes of the generated video and their lengths in seconds: the person arrives at 2 s, stops at 4 s,
leaves at 8 s."""
SETTINGS = VisionSettings(enabled=True, fps=FPS, on_delay_s=0.6, off_delay_s=3.0, recheck_s=1.0)


def make_video(path: Path) -> Path:
    """640×480 MJPEG video from skimage photos: an empty room, a person moving in, still, then gone."""
    import cv2
    from skimage import data

    room = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (640, 480))
    person = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (300, 300))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (640, 480))
    rng = np.random.default_rng(0)
    x = 0
    for scene, seconds in PLAN:
        for _ in range(int(seconds * FPS)):
            frame = room.copy()
            if scene != "empty":
                x = x + 15 if scene == "moving" else x
                frame[120:420, 40 + x : 340 + x] = person
            noise = rng.normal(0, 2.0, frame.shape)
            writer.write(np.clip(frame + noise, 0, 255).astype(np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "room.avi")


@pytest.mark.integration
def test_the_video_drives_the_gate_and_presence_with_the_configured_delays(registry, video):
    processor = build_processor(SETTINGS, registry.resolve)
    source = CaptureSource(str(video), "file", SETTINGS, realtime=False)
    source.open()
    cap, changes, runs = RateCap(FPS), [], {}
    while True:
        try:
            frame = source.read(cap.due)
        except EOFError:
            break
        outcome = processor.process(frame)
        runs[round(frame.t, 1)] = outcome.gate.reason
        if outcome.presence is not None:
            changes.append((round(frame.t, 2), outcome.presence))
    assert [c.present for _, c in changes] == [True, False]
    (on_t, on), (off_t, off) = changes
    assert 2.0 + SETTINGS.on_delay_s <= on_t <= 2.0 + SETTINGS.on_delay_s + 0.21 and on.faces == 1
    assert off.last_seen is not None and 7.0 <= off.last_seen < 8.0  # re-checks kept seeing the still person
    assert off_t == pytest.approx(off.last_seen + SETTINGS.off_delay_s, abs=0.21)
    assert all(runs[round(t / FPS, 1)] == "motion" for t in range(11, 20))  # moving: every frame
    still = [r for t, r in runs.items() if 4.6 <= t < 8.0]
    assert 2 <= sum(bool(r) for r in still) <= 6 and "recheck" in still  # still: periodic re-checks only
    assert sum(bool(r) for t, r in runs.items() if t < 2.0) <= 3


async def _collect(bus: Bus, kinds, until, timeout: float = 30.0) -> list:
    """Events of ``kinds`` until ``until(seen)`` holds; fails after ``timeout`` seconds."""
    seen: list = []
    deadline = asyncio.get_running_loop().time() + timeout
    with bus.subscribe(*kinds, name="test") as sub:
        while not until(seen):
            left = deadline - asyncio.get_running_loop().time()
            seen.append(await asyncio.wait_for(sub.get(), max(left, 0.01)))
    return seen


def _start(service) -> threading.Thread:
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    return thread


@pytest.mark.integration
async def test_the_service_publishes_presence_and_faces_without_pixels(registry, video):
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    settings = replace(SETTINGS, source=str(video))
    service = build_service(settings, bus, registry.resolve)
    thread = _start(service)
    try:
        events = await _collect(
            bus,
            (PresenceChanged, FacesSeen),
            lambda s: any(isinstance(e, PresenceChanged) and not e.present for e in s),
        )
    finally:
        service.stop()
        await asyncio.to_thread(thread.join, 5.0)
    presence = [e.present for e in events if isinstance(e, PresenceChanged)]
    assert presence == [True, False]
    faces = [e for e in events if isinstance(e, FacesSeen)]
    assert faces[0].count == 1 and len(faces[0].boxes[0]) == 4 and 0.7 < faces[0].scores[0] <= 1.0
    assert all(isinstance(v, float) for e in faces for box in e.boxes for v in box)  # numbers, never pixels
    assert faces[-1].count == 0


async def test_an_unreadable_device_is_retried_with_backoff_and_reported_once(registry):
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    settings = replace(
        SETTINGS, source="/dev/video99", retry_s=0.05, retry_max_s=0.2, face_model="", person_detector="none"
    )
    opens = []

    def factory():
        opens.append(1)
        return open_source(settings)

    service = build_service(settings, bus, registry.resolve, factory)
    with bus.subscribe(ErrorRaised, CameraChanged, name="test") as sub:
        thread = _start(service)
        try:
            for _ in range(200):
                if len(opens) >= 4:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)
        finally:
            service.stop()
            await asyncio.to_thread(thread.join, 5.0)
        events = [sub.get_nowait() for _ in range(sub.queue.qsize())]
    assert len(opens) >= 4
    errors = [e for e in events if isinstance(e, ErrorRaised)]
    assert len(errors) == 1 and errors[0].code == "camera-unavailable" and errors[0].stage == "vision"
    assert any(isinstance(e, CameraChanged) and not e.available for e in events)
    assert not service.available and "video99" in service.message


async def test_corrupt_images_are_reported_and_the_pipeline_goes_on(registry, tmp_path):
    import cv2
    from skimage import data

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.jpg"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    (folder / "2.jpg").write_bytes(b"\xff\xd8 truncated")
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    service = build_service(replace(SETTINGS, source=str(folder)), bus, registry.resolve)
    with bus.subscribe(ErrorRaised, name="test") as sub:
        thread = _start(service)
        try:
            assert await asyncio.to_thread(service.eof.wait, 20.0)
            error = await asyncio.wait_for(sub.get(), 5.0)
        finally:
            service.stop()
            await asyncio.to_thread(thread.join, 5.0)
    assert error.code == "frame-unreadable" and "2.jpg" in error.message
    assert service.frames == 3 and service.errors == 1


async def test_the_camera_switch_stops_capture_at_the_source_and_snapshots_need_it_on(registry, tmp_path):
    bus = Bus()
    bus.bind(asyncio.get_running_loop())
    camera = SceneCamera({"empty": scene_frames(False, count=4)}, 10.0)
    opened = []
    closed = []
    camera.open = lambda: opened.append(1)  # type: ignore[method-assign]
    camera.close = lambda: closed.append(1)  # type: ignore[method-assign]
    settings = replace(SETTINGS, fps=10.0, face_model="", person_detector="none", snapshot_max_bytes=12_000)
    service = build_service(settings, bus, registry.resolve, lambda: camera)
    thread = _start(service)
    try:
        frame = await asyncio.to_thread(service.next_frame, 5.0)
        shot = save_snapshot(frame.image, tmp_path, settings.snapshot_max_bytes)
        service.set_camera(False)
        for _ in range(100):
            if closed:
                break
            await asyncio.sleep(0.05)
        frames_off = service.frames
        with pytest.raises(VisionError, match="switched off"):
            service.next_frame(1.0)
        await asyncio.sleep(0.3)
        assert service.frames == frames_off and not service.available
        service.set_camera(True)
        await asyncio.to_thread(service.next_frame, 5.0)
    finally:
        service.stop()
        await asyncio.to_thread(thread.join, 5.0)
    assert closed and len(opened) == 2
    assert shot.path.parent == tmp_path / "snapshots" and shot.path.suffix == ".jpg"
    assert shot.bytes == shot.path.stat().st_size <= 12_000
    assert (shot.path.stat().st_mode & 0o777) == 0o600
    assert shot.path.read_bytes()[:2] == b"\xff\xd8"
    assert os.listdir(tmp_path / "snapshots") == [shot.path.name]


@pytest.mark.integration
def test_vision_detect_cli_on_an_image_a_video_and_a_corrupt_file(registry, video, tmp_path, capsys):
    import json

    import cv2

    from appliance.__main__ import main

    image = tmp_path / "astronaut.png"
    from skimage import data

    cv2.imwrite(str(image), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    env_state = {"APPLIANCE_PATHS_STATE_DIR": str(registry.state_dir)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env_state.items():
            mp.setenv(key, value)
        assert main(["vision", "detect", str(image), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["kind"] == "image" and result["width"] == 512
        (face,) = result["frames"][0]["detections"]
        assert face["kind"] == "face" and face["score"] > 0.7 and len(face["box"]) == 4
        assert main(["vision", "detect", str(video), "--fps", "1"]) == 0
        text = capsys.readouterr().out
        assert "video 640x480, 14 frame(s)" in text and "face" in text and "no detections" in text
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(b"\xff\xd8 not really")
        assert main(["vision", "detect", str(bad)]) == 1
        assert "not a readable image" in capsys.readouterr().err
