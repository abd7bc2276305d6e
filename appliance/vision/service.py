"""The running camera pipeline: a capture thread and an analysis thread joined by a bounded queue.

The capture thread owns the device: it opens it (retrying with backoff when
it is missing or lost), applies the frame-rate cap and hands decoded frames
to a queue of two, dropping the oldest, so analysis never works on a
backlog.  The analysis thread runs :class:`VisionProcessor` and publishes
``PresenceChanged`` / ``FacesSeen`` (counts and boxes, never pixels) with
``bus.publish_threadsafe``.  Switching the camera off closes the device;
frames are never stored unless a snapshot is requested.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from appliance.core.bus import Bus
from appliance.core.errors import VisionError
from appliance.core.events import (
    CameraChanged,
    ErrorRaised,
    FacesSeen,
    PresenceChanged,
)
from appliance.settings import VisionSettings
from appliance.vision.camera import Frame, FrameSource
from appliance.vision.motion import RateCap
from appliance.vision.presence import PresenceState, describe
from appliance.vision.processor import Outcome, VisionProcessor

_LOGGER = logging.getLogger(__name__)

QUEUE_FRAMES = 2


class VisionService:
    def __init__(
        self,
        settings: VisionSettings,
        processor: VisionProcessor,
        source_factory: Callable[[], FrameSource],
        bus: Bus,
    ) -> None:
        self.settings = settings
        self.processor = processor
        self._source_factory = source_factory
        self.bus = bus
        self.camera_on = settings.camera
        self.available = False
        self.message = "not started"
        self.source_name = ""
        self.frames = 0
        self.dropped = 0
        self.errors = 0
        self.eof = threading.Event()
        """Set when a file source has been read to its end."""
        self._queue: queue.Queue[Frame] = queue.Queue(QUEUE_FRAMES)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._snapshots: list[Future[Frame]] = []
        self._lock = threading.Lock()
        self._clock = (time.time(), time.monotonic())
        self._reset_pending = False
        self.on_change: list[Callable[[], None]] = []
        """Called (on the analysis or capture thread) after presence or camera state changes."""

    # -- state for other components (read-only) ------------------------------------
    @property
    def presence(self) -> PresenceState:
        return self.processor.presence.state

    def summary(self) -> str:
        """One sentence about the room for the LLM's context (no pixels, no identities)."""
        state = self.presence
        last = self.wall_time(state.last_seen) if state.last_seen is not None else None
        shown = PresenceState(state.present, state.faces, state.people, last, state.since)
        return describe(shown, time.time(), camera_on=self.camera_on, available=self.available)

    def wake_allowed(self) -> bool:
        """False only when wake words need presence, the camera works, and nobody is here."""
        if not self.settings.wake_requires_presence or not self.camera_on or not self.available:
            return True
        return self.presence.present

    def wall_time(self, t: float) -> float:
        """Unix seconds of a frame timestamp."""
        wall0, t0 = self._clock
        return wall0 + (t - t0)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # -- the camera switch and snapshots (any thread) ----------------------------------
    def set_camera(self, on: bool) -> None:
        """The privacy switch: OFF closes the device at the next frame; no frames are read while off."""
        if on != self.camera_on:
            self.camera_on = on
            self._wake.set()
            if not on:
                self._fail_snapshots(VisionError("camera-off", "the camera is switched off"))
            self._publish_camera("switched on" if on else "switched off")

    def next_frame(self, timeout: float) -> Frame:
        """The next decoded frame (for a snapshot); VisionError if none comes in ``timeout`` seconds."""
        if not self.camera_on:
            raise VisionError("camera-off", "the camera is switched off; turn it on first")
        future: Future[Frame] = Future()
        with self._lock:
            self._snapshots.append(future)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            raise VisionError("camera-unavailable", f"no frame from the camera within {timeout:.0f} s") from None
        finally:
            with self._lock:
                if future in self._snapshots:
                    self._snapshots.remove(future)

    # -- threads ------------------------------------------------------------------
    def run(self) -> None:
        """Blocking: capture on a helper thread, analyse on this one, until :meth:`stop`."""
        capture = threading.Thread(target=self._capture_loop, name="vision-capture", daemon=True)
        capture.start()
        try:
            self._analyse_loop()
        finally:
            self.stop()
            capture.join(timeout=5.0)

    def _analyse_loop(self) -> None:
        last_t, last_mono = None, time.monotonic()
        while not self._stop.is_set():
            try:
                frame = self._queue.get(timeout=0.05)
            except queue.Empty:
                if last_t is not None:  # also while switched off: nobody is seen, the off-delay runs
                    self._handle(None, self.processor.tick(last_t + time.monotonic() - last_mono), last_t)
                continue
            if self._reset_pending:  # the source was reopened: fresh comparison and sighting run
                self._reset_pending = False
                self.processor.camera_stopped()
            last_t, last_mono = frame.t, time.monotonic()
            try:
                outcome = self.processor.process(frame)
            except VisionError as err:
                self._error(err)
                continue
            self._handle(outcome, outcome.presence, frame.t)

    def _handle(self, outcome: Outcome | None, change: PresenceState | None, t: float) -> None:
        if outcome is not None and outcome.faces_event and outcome.detections is not None:
            faces = [d for d in outcome.detections if d.kind == "face"]
            self.bus.publish_threadsafe(
                FacesSeen(
                    count=len(faces),
                    boxes=tuple(tuple(round(v, 4) for v in d.box) for d in faces),  # type: ignore[misc]
                    scores=tuple(round(d.score, 3) for d in faces),
                )
            )
        if change is not None:
            last = self.wall_time(change.last_seen) if change.last_seen is not None else None
            _LOGGER.info("Presence %s (faces %d, people %d)", change.present, change.faces, change.people)
            self.bus.publish_threadsafe(
                PresenceChanged(present=change.present, faces=change.faces, people=change.people, last_seen=last)
            )
            self._notify()

    def _capture_loop(self) -> None:
        backoff = self.settings.retry_s
        while not self._stop.is_set():
            if not self.camera_on:
                self._wait(1.0)
                continue
            try:
                source = self._open()
            except VisionError as err:
                self._lost(err, backoff)
                self._wait(backoff)
                backoff = min(backoff * 2, self.settings.retry_max_s)
                continue
            backoff = self.settings.retry_s
            try:
                self._read_frames(source)
            except VisionError as err:
                self._lost(err, backoff)
                self._wait(backoff)
            finally:
                source.close()
                self._reset_pending = True

    def _open(self) -> FrameSource:
        source = self._source_factory()
        source.open()
        self.source_name = source.name
        self.available = True
        self.message = "capturing"
        self._clock = (time.time(), time.monotonic()) if source.live else (time.time(), 0.0)
        self._publish_camera("capturing")
        return source

    def _read_frames(self, source: FrameSource) -> None:
        cap = RateCap(self.settings.fps)
        while self.camera_on and not self._stop.is_set():
            try:
                frame = source.read(cap.due)
            except EOFError:
                self.available, self.message = False, "end of file"
                self._publish_camera("end of file")
                self.eof.set()
                self._wait_until_stopped()
                return
            except VisionError as err:
                if err.code != "frame-unreadable":
                    raise
                self._error(err)  # one bad image or frame: report it and go on with the next
                continue
            if frame is None:
                continue  # not due: grabbed without decoding
            self.frames += 1
            self._serve_snapshots(frame)
            self._offer(frame, drop=source.live)
        if not self.camera_on:
            source.close()  # before telling anyone it is off
            self.available, self.message = False, "switched off"
            self._publish_camera("closed")

    def _offer(self, frame: Frame, *, drop: bool) -> None:
        """Live frames replace the oldest waiting one; a file's frames wait their turn (its timeline matters)."""
        while not drop and not self._stop.is_set():
            try:
                self._queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _serve_snapshots(self, frame: Frame) -> None:
        with self._lock:
            waiting, self._snapshots = self._snapshots, []
        for future in waiting:
            if not future.done():
                future.set_result(frame)

    def _fail_snapshots(self, err: VisionError) -> None:
        with self._lock:
            waiting, self._snapshots = self._snapshots, []
        for future in waiting:
            if not future.done():
                future.set_exception(err)

    def _lost(self, err: VisionError, retry_s: float) -> None:
        was_available = self.available or self.message == "not started"
        self.available = False
        if was_available or err.message != self.message:
            _LOGGER.warning("Camera: %s; retrying in %.1f s", err.message, retry_s)
            self._error(err)
            self._publish_camera(err.message)
        self.message = err.message

    def _error(self, err: VisionError) -> None:
        self.errors += 1
        _LOGGER.warning("Vision: %s [%s]", err.message, err.code)
        self.bus.publish_threadsafe(ErrorRaised(code=err.code, message=err.message, stage="vision"))

    def _publish_camera(self, message: str) -> None:
        self.bus.publish_threadsafe(
            CameraChanged(on=self.camera_on, available=self.available, source=self.source_name, message=message)
        )
        self._notify()

    def _notify(self) -> None:
        for callback in self.on_change:
            callback()

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _wait_until_stopped(self) -> None:
        while self.camera_on and not self._stop.is_set():
            self._wait(1.0)
