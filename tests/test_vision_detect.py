"""Detectors on real photos (scikit-image) with the real models, plus the decoding maths with numbers."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.core.errors import ModelError
from appliance.settings import VisionSettings
from appliance.vision.blazeface import (
    FULL_RANGE,
    SHORT_RANGE,
    anchors,
    decode_boxes,
    load_blazeface,
)
from appliance.vision.detect import letterbox, non_max_suppression
from appliance.vision.hog import HogPeopleDetector
from appliance.vision.onnx_detect import (
    OnnxDetector,
    choose_providers,
    decode_yolov8,
    decode_yolox,
)

# Where the face is in each photo, as fractions of width/height (marked by hand).
FACES = {"astronaut": (0.33, 0.10, 0.57, 0.37), "camera": (0.32, 0.18, 0.56, 0.44)}
EMPTY = ("coffee", "chelsea")


def photo(name: str) -> np.ndarray:
    import cv2
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return cv2.cvtColor(image[:, :, :3], cv2.COLOR_RGB2BGR)


def inside(box, region) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


# -- pure decoding -----------------------------------------------------------------


def test_blazeface_anchor_counts_match_the_models():
    assert anchors(SHORT_RANGE).shape == (896, 2)
    assert anchors(FULL_RANGE).shape == (2304, 2)
    first = anchors(SHORT_RANGE)[:2]
    assert np.allclose(first, [[0.5 / 16, 0.5 / 16]] * 2)  # two anchors in the first 8-px cell


def test_blazeface_box_decoding_is_relative_to_the_anchor():
    regressors = np.zeros((1, 16), dtype=np.float32)
    regressors[0, :4] = [4.0, -2.0, 20.0, 10.0]  # centre offset and size, input pixels
    box = decode_boxes(regressors, np.array([[0.5, 0.25]], dtype=np.float32), 128)
    assert np.allclose(box, [[58.0, 25.0, 78.0, 35.0]])


def test_letterbox_maps_boxes_back_to_the_frame():
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    boxed, lb = letterbox(image, 128, 128)
    assert boxed.shape == (128, 128, 3) and lb.pad_y == 16 and lb.pad_x == 0
    back = lb.to_frame(np.array([[0.0, 16.0, 128.0, 112.0]]))
    assert np.allclose(back, [[0.0, 0.0, 1.0, 1.0]])


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
    assert non_max_suppression(boxes, np.array([0.6, 0.9, 0.7]), iou_threshold=0.3) == [1, 2]


def test_yolox_decoding_uses_grids_and_strides():
    width = height = 64  # grids 8×8, 4×4, 2×2 = 84 rows
    raw = np.zeros((84, 85), dtype=np.float32)
    raw[9, :4] = [0.5, 0.5, np.log(2.0), np.log(4.0)]  # stride-8 cell (1, 1)
    raw[9, 4], raw[9, 5] = 0.9, 0.8
    boxes, scores = decode_yolox(raw, width, height)
    assert np.allclose(boxes[9], [4.0, -4.0, 20.0, 28.0]) and scores[9] == pytest.approx(0.72)
    with pytest.raises(ModelError):
        decode_yolox(raw[:80], width, height)


def test_yolov8_decoding_reads_centre_size_and_the_person_class():
    raw = np.zeros((84, 2), dtype=np.float32)
    raw[:5, 1] = [100, 50, 20, 40, 0.7]
    boxes, scores = decode_yolov8(raw)
    assert np.allclose(boxes[1], [90, 30, 110, 70]) and scores[1] == pytest.approx(0.7)


def test_execution_provider_choice():
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("auto", gpu) == gpu
    assert choose_providers("cuda", gpu) == gpu[1:]
    assert choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers("tensorrt", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


# -- the real models on real photos ------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("model", ["blazeface-short", "blazeface-full"])
def test_blazeface_tflite_finds_the_faces_and_nothing_in_empty_scenes(registry, model):
    detector = load_blazeface(registry.resolve(model), VisionSettings(face_threshold=0.6))
    for name, region in FACES.items():
        found = detector.detect(photo(name))
        assert len(found) == 1, (model, name, found)
        assert found[0].kind == "face" and found[0].score > 0.7
        assert inside(found[0].box, region), (model, name, found[0].box)
    for name in EMPTY:
        assert detector.detect(photo(name)) == [], (model, name)


@pytest.mark.integration
@pytest.mark.parametrize("model", ["blazeface-short", "blazeface-full"])
def test_the_onnx_path_runs_a_real_model_and_agrees_with_tflite(registry, model):
    tflite = load_blazeface(registry.resolve(model), VisionSettings())
    onnx = load_blazeface(registry.resolve(f"{model}-onnx"), VisionSettings(onnx_device="cpu"))
    for name in (*FACES, *EMPTY):
        a, b = tflite.detect(photo(name)), onnx.detect(photo(name))
        assert len(a) == len(b), name
        for x, y in zip(a, b):
            assert x.score == pytest.approx(y.score, abs=0.01)
            assert np.allclose(x.box, y.box, atol=0.01)
    assert len(onnx.detect(photo("astronaut"))) == 1


@pytest.mark.integration
def test_onnx_detector_recognises_the_layout_and_runs(registry, tmp_path):
    """OnnxDetector on a real ONNX graph: a BlazeFace export is not a COCO layout and is refused clearly."""
    path = registry.resolve("blazeface-short-onnx")
    with pytest.raises(ModelError, match="YOLOX output has 896 rows"):
        OnnxDetector(path, threshold=0.5, device="cpu").detect(photo("astronaut"))


@pytest.mark.integration
def test_hog_people_detector_runs_and_stays_quiet_on_empty_scenes():
    detector = HogPeopleDetector(threshold=0.5)
    for name in EMPTY:
        assert detector.detect(photo(name)) == []
    for found in detector.detect(photo("astronaut")):
        assert found.kind == "person" and 0.0 <= found.box[0] < found.box[2] <= 1.0


@pytest.mark.integration
def test_the_onnx_export_is_reproducible_and_verified(tmp_path):
    from appliance.models.registry import ModelRegistry

    registry = ModelRegistry(tmp_path, show_progress=False)
    assert registry.status("blazeface-short-onnx").state == "missing"
    path = registry.resolve("blazeface-short-onnx")  # exported now; raises unless the sha256 matches the manifest
    assert path.parent == tmp_path / "models" / "blazeface-short-onnx"
    assert registry.status("blazeface-short-onnx", verify=True).state == "ok"
