"""Camera sources: V4L2 devices, GStreamer pipelines, network streams, video files, image folders.

Every source yields :class:`Frame` objects (BGR uint8, as OpenCV decodes
them) with a timestamp in seconds.  Live sources stamp frames with
``time.monotonic()``; files and folders stamp them on their own timeline
(frame index / fps), so tests and ``appliance vision detect`` are
deterministic whatever the machine's speed.  ``read`` raises
:class:`EOFError` at the end of a file and :class:`VisionError` when the
device is lost; skipping is cheap (``grab`` without decoding), which is how
the frame-rate cap saves CPU on a 30 fps camera.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from appliance.core.errors import ConfigError, VisionError
from appliance.settings import VisionSettings

_LOGGER = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".mjpeg", ".mjpg", ".m4v"})
URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    """H×W×3 BGR uint8."""
    t: float
    """Seconds: time.monotonic() for live sources, position on the file's timeline otherwise."""
    index: int = 0


class FrameSource(Protocol):
    name: str
    live: bool
    """True for cameras and streams (frames come when they come); False for files."""

    def open(self) -> None: ...

    def read(self, due: Callable[[float], bool] | None = None) -> Frame | None:
        """The next frame; when ``due(t)`` says no, it is skipped without decoding and None returned."""
        ...

    def close(self) -> None: ...


def source_kind(settings: VisionSettings) -> str:
    """The configured kind, or the one ``source`` looks like."""
    if settings.source_kind != "auto":
        return settings.source_kind
    src = settings.source.strip()
    if src.isdigit() or src.startswith("/dev/video"):
        return "v4l2"
    if "!" in src:
        return "gstreamer"
    if src.lower().startswith(URL_SCHEMES):
        return "url"
    if Path(src).is_dir():
        return "folder"
    return "file"


_ELEMENT = re.compile(r"^[a-z][a-z0-9_-]*(\s|$)")


def check_gstreamer(pipeline: str) -> None:
    """Raise ConfigError unless ``pipeline`` is a plausible appsink-terminated GStreamer launch line."""
    problem = _gstreamer_problem(pipeline)
    if problem:
        raise ConfigError(
            "config-gstreamer", f"vision.source = {pipeline!r} is not a usable GStreamer pipeline: {problem}"
        )


def _gstreamer_problem(pipeline: str) -> str:
    if pipeline.count('"') % 2:
        return "unbalanced double quote"
    elements = [part.strip() for part in pipeline.split("!")]
    if len(elements) < 2:
        return "expected elements joined by '!', e.g. 'nvarguscamerasrc ! ... ! appsink'"
    for i, element in enumerate(elements):
        if not element:
            return f"element {i + 1} is empty (two '!' in a row, or one at an end)"
        if not _ELEMENT.match(element) and not element.startswith(("video/", "image/")):
            return f"element {i + 1} ({element.split()[0]!r}) is neither an element name nor caps"
    if not elements[-1].startswith("appsink"):
        return "the last element must be appsink (OpenCV reads frames from it)"
    return ""


def check_source(settings: VisionSettings) -> str:
    """Validate the configured source up front (start-up, config check); returns its kind."""
    kind = source_kind(settings)
    src = settings.source.strip()
    if not src:
        raise ConfigError("config-value", "vision.source is empty: name a device, pipeline, URL, file or folder")
    if kind == "gstreamer":
        check_gstreamer(src)
    if kind == "url" and not src.lower().startswith(URL_SCHEMES):
        raise ConfigError("config-value", f"vision.source = {src!r} is not an rtsp/http(s) URL")
    return kind


def open_source(settings: VisionSettings, *, realtime: bool = True) -> FrameSource:
    """Build (not yet open) the source the settings describe."""
    kind = check_source(settings)
    src = settings.source.strip()
    if kind == "folder":
        return FolderSource(Path(src), fps=settings.fps)
    if kind == "file" and Path(src).suffix.lower() in IMAGE_SUFFIXES:
        return FolderSource(Path(src), fps=settings.fps)
    return CaptureSource(src, kind, settings, realtime=realtime)


class CaptureSource:
    """Anything OpenCV's VideoCapture reads: V4L2, GStreamer, RTSP/HTTP, video files."""

    def __init__(self, spec: str, kind: str, settings: VisionSettings, *, realtime: bool = True) -> None:
        self.spec = spec
        self.kind = kind
        self.settings = settings
        self.live = kind in ("v4l2", "gstreamer", "url")
        self.realtime = realtime and not self.live
        self.name = _redact(spec) if kind == "url" else spec
        self._cap: Any = None
        self._index = 0
        self._file_fps = 0.0
        self._started = 0.0

    def open(self) -> None:
        import cv2

        if self.kind == "gstreamer" and "GStreamer:                   YES" not in cv2.getBuildInformation():
            raise VisionError(
                "camera-unsupported",
                "this OpenCV was built without GStreamer (pip's opencv-python-headless); "
                "on a Jetson use the system OpenCV (python3-opencv), see hardware/camera.md",
            )
        if self.kind == "file" and not Path(self.spec).is_file():
            raise VisionError("camera-unavailable", f"video file {self.spec} does not exist")
        cap = self._capture(cv2)
        if not cap.isOpened():
            cap.release()
            raise VisionError("camera-unavailable", f"cannot open camera {self.name} ({self.kind})")
        self._cap = cap
        self._index = 0
        self._file_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or self.settings.fps
        self._started = time.monotonic()

    def _capture(self, cv2: Any) -> Any:
        if self.kind == "v4l2":
            device: int | str = int(self.spec) if self.spec.isdigit() else self.spec
            cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.settings.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.settings.height)
            cap.set(cv2.CAP_PROP_FPS, max(self.settings.fps, 5.0))
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a backlog
            return cap
        if self.kind == "gstreamer":
            return cv2.VideoCapture(self.spec, cv2.CAP_GSTREAMER)
        return cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG)

    def read(self, due: Callable[[float], bool] | None = None) -> Frame | None:
        if self._cap is None:
            raise VisionError("camera-closed", f"camera {self.name} is not open")
        t = self._index / self._file_fps if not self.live else time.monotonic()
        if self.realtime:
            delay = self._started + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # a file played as a camera would deliver it (demos, benchmark)
        if not self._cap.grab():
            if self.live:
                raise VisionError("camera-lost", f"camera {self.name} stopped delivering frames")
            raise EOFError(self.spec)
        self._index += 1
        if due is not None and not due(t):
            return None
        ok, image = self._cap.retrieve()
        if not ok or image is None:
            raise VisionError("frame-unreadable", f"frame {self._index} of {self.name} could not be decoded")
        return Frame(_bgr(image), t, self._index - 1)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderSource:
    """Images in name order (or one image file), one frame each at ``fps`` on their timeline."""

    live = False

    def __init__(self, path: Path, *, fps: float = 5.0) -> None:
        self.path = path
        self.fps = fps
        self.name = str(path)
        self._files: list[Path] = []
        self._index = 0

    def open(self) -> None:
        if self.path.is_file():
            self._files = [self.path]
        elif self.path.is_dir():
            self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            raise VisionError("camera-unavailable", f"{self.path} does not exist")
        self._index = 0

    def read(self, due: Callable[[float], bool] | None = None) -> Frame | None:
        if self._index >= len(self._files):
            raise EOFError(self.name)
        path, index = self._files[self._index], self._index
        self._index += 1
        if due is not None and not due(index / self.fps):
            return None
        return Frame(read_image(path), index / self.fps, index)

    def close(self) -> None:
        self._files = []


def read_image(path: Path) -> np.ndarray:
    """Decode one image file as BGR, or raise VisionError('frame-unreadable')."""
    import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as err:
        raise VisionError("frame-unreadable", f"cannot read {path}: {err.strerror}") from err
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise VisionError("frame-unreadable", f"{path} is not a readable image")
    return image


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3]


def _redact(url: str) -> str:
    """A stream URL without its password, for logs and events."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)
