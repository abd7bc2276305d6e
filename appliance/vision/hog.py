"""People detection that works offline everywhere: OpenCV's HOG + linear SVM pedestrian detector.

It finds upright, mostly whole people (a 64×128 window), which is what a
room camera sees of someone walking or standing; seated close-ups are the
face detector's job.  The frame is analysed at :data:`WORK_WIDTH` pixels
wide, which keeps one pass near 20–40 ms on a small CPU; that is why the
service runs it at most every ``person_interval_s`` while faces are seen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from appliance.vision.detect import Detection, to_detections

WORK_WIDTH = 320
"""Pixels: people must be at least 128 px tall at this width (about 2/3 of a 4:3 frame's height)."""
NMS_IOU = 0.4
SCORE_SCALE = 1.0
"""SVM margins are squashed to 0..1 by a logistic with this scale, so thresholds read like the others."""


class HogPeopleDetector:
    kind = "person"
    name = "opencv-hog"

    def __init__(self, *, threshold: float = 0.5) -> None:
        import cv2

        self.threshold = threshold
        self._hog: Any = cv2.HOGDescriptor()
        people: Any = cv2.HOGDescriptor.getDefaultPeopleDetector()
        self._hog.setSVMDetector(people)

    def detect(self, image: np.ndarray) -> list[Detection]:
        import cv2

        h, w = image.shape[:2]
        scale = min(WORK_WIDTH / w, 1.0)
        small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        rects, margins = self._hog.detectMultiScale(grey, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return []
        rects = np.asarray(rects, dtype=np.float32)
        scores = 1.0 / (1.0 + np.exp(-np.ravel(margins).astype(np.float32) * SCORE_SCALE))
        boxes = np.stack(
            [
                rects[:, 0] / small.shape[1],
                rects[:, 1] / small.shape[0],
                (rects[:, 0] + rects[:, 2]) / small.shape[1],
                (rects[:, 1] + rects[:, 3]) / small.shape[0],
            ],
            axis=1,
        ).clip(0.0, 1.0)
        keep = scores >= self.threshold
        return to_detections(self.kind, boxes[keep], scores[keep], iou_threshold=NMS_IOU)
