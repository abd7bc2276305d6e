"""Camera sources: kinds, GStreamer validation, unreadable devices, files and folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.core.errors import ConfigError, VisionError
from appliance.settings import VisionSettings, settings_from_dict
from appliance.vision.camera import (
    CaptureSource,
    FolderSource,
    check_gstreamer,
    check_source,
    open_source,
    source_kind,
)

JETSON = (
    "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! "
    "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1"
)


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("/dev/video0", "v4l2"),
        ("2", "v4l2"),
        (JETSON, "gstreamer"),
        ("rtsp://cam.local/stream", "url"),
        ("https://cam.local/mjpg", "url"),
        ("clip.avi", "file"),
    ],
)
def test_source_kind_is_recognised(source, kind):
    assert source_kind(VisionSettings(source=source)) == kind


def test_the_jetson_csi_pipeline_is_valid():
    check_gstreamer(JETSON)


@pytest.mark.parametrize(
    ("pipeline", "why"),
    [
        ("nvarguscamerasrc ! nvvidconv", "appsink"),
        ("nvarguscamerasrc ! ! appsink", "empty"),
        ("nvarguscamerasrc ! 'bad caps ! appsink", "neither"),
        ('v4l2src ! video/x-raw,format="BGR ! appsink', "quote"),
        ("! appsink", "empty"),
    ],
)
def test_an_invalid_gstreamer_string_is_a_clear_config_error(pipeline, why):
    with pytest.raises(ConfigError, match=why) as info:
        check_source(VisionSettings(source=pipeline, source_kind="gstreamer"))
    assert info.value.code == "config-gstreamer" and "vision.source" in info.value.message


def test_vision_settings_load_and_validate():
    settings = settings_from_dict({"vision": {"enabled": True, "fps": "2.5", "person_detector": "onnx"}})
    assert settings.vision.enabled and settings.vision.fps == 2.5
    with pytest.raises(ConfigError, match="person_detector"):
        settings_from_dict({"vision": {"person_detector": "yolo"}})
    with pytest.raises(ConfigError, match=r"vision\.fps"):
        settings_from_dict({"vision": {"fps": 0}})


def test_an_unreadable_device_is_a_clear_error():
    source = open_source(VisionSettings(source="/dev/video99"))
    with pytest.raises(VisionError) as info:
        source.open()
    assert info.value.code == "camera-unavailable" and "/dev/video99" in info.value.message


def test_a_missing_or_corrupt_video_file_cannot_be_opened(tmp_path: Path):
    with pytest.raises(VisionError, match="does not exist"):
        CaptureSource(str(tmp_path / "none.avi"), "file", VisionSettings()).open()
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 50)
    with pytest.raises(VisionError, match="cannot open"):
        CaptureSource(str(bad), "file", VisionSettings()).open()


def test_folder_source_reports_a_corrupt_image_and_goes_on(tmp_path: Path):
    import cv2

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((48, 64, 3), 40 * i, dtype=np.uint8))
    (tmp_path / "1.png").write_bytes(b"not a png")
    source = FolderSource(tmp_path, fps=2.0)
    source.open()
    first = source.read()
    assert first is not None and first.t == 0.0
    with pytest.raises(VisionError) as info:
        source.read()
    assert info.value.code == "frame-unreadable"
    third = source.read()
    assert third is not None and third.t == 1.0 and int(third.image[0, 0, 0]) == 80
    with pytest.raises(EOFError):
        source.read()


def test_url_passwords_stay_out_of_names():
    source = CaptureSource("rtsp://admin:secret@10.0.0.5/live", "url", VisionSettings())
    assert "secret" not in source.name and "admin" in source.name
