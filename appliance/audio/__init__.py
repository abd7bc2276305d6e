"""Audio I/O: the one place that defines the pipeline's sample format."""

from __future__ import annotations

SAMPLE_RATE = 16_000
"""Hertz: every stage from capture to STT works at this rate."""

SAMPLE_WIDTH = 2
"""Bytes per sample (signed 16-bit little-endian)."""

CHANNELS = 1

FRAME_SAMPLES = 1_280
"""Samples per capture frame: 80 ms, openWakeWord's native step."""

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
"""Seconds per capture frame."""

FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH
