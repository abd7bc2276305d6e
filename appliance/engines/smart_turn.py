"""Semantic end of turn: has the speaker finished, judged from how the request sounds so far?

The model is smart-turn v3.2 (``smart-turn-v3.2-cpu.onnx``, the file the
``pipecat-ai`` wheel carries; only the file is used, never that package's code): a
Whisper-tiny-sized encoder that reads Whisper log-mel features of the last 8 s of
audio and says how likely the turn is complete.  The endpointing decision itself
lives in :class:`appliance.engines.vad.Segmenter`; this module only answers the question,
and :class:`TurnJudge` answers it on a worker thread so the audio thread never
waits for a whole inference (about 50 ms on one core).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Protocol

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.core.errors import ApplianceError, VadError
from appliance.core.procstat import shrinking_run_options
from appliance.engines.melspec import LogMel
from appliance.settings import VadSettings

_LOGGER = logging.getLogger(__name__)

MODEL_NAME = "smart-turn-v3.2"
"""The manifest entry of the default turn model."""
WINDOW_S = 8
"""Seconds of audio the model reads (the end of the request; zeros in front when shorter)."""
NORM_EPS = 1e-7
"""Variance floor of the waveform normalisation (the model was trained on normalised audio)."""


class TurnModel(Protocol):
    """Probability (0..1) that the speaker has finished, for a request's 16 kHz int16 audio so far."""

    def completion(self, audio: np.ndarray) -> float: ...


class SmartTurn:
    """smart-turn v3 on onnxruntime: one thread, a small arena, loaded once."""

    def __init__(self, model_path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Measured (2 cores, 8 s input): the arena with memory patterns off costs ~30 MB of RSS,
        # patterns on ~40 MB, no arena at all 45-70 MB (glibc keeps the freed blocks); same speed.
        options.enable_mem_pattern = False
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise VadError("turn-model-load-failed", f"cannot load {model_path}: {err}") from err
        self._run_options = shrinking_run_options()
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [80, 800]:
            shapes = [(i.name, i.shape) for i in inputs]
            raise VadError("turn-model-load-failed", f"{model_path} is not a smart-turn v3 model (inputs {shapes})")
        self._input_name = inputs[0].name
        self._samples = WINDOW_S * SAMPLE_RATE
        self._audio = np.zeros(self._samples, dtype=np.float32)
        self._features = LogMel(self._samples)

    def completion(self, audio: np.ndarray) -> float:
        tail = audio[-self._samples :]
        window = self._audio
        window[: self._samples - len(tail)] = 0.0
        window[self._samples - len(tail) :] = tail
        if audio.dtype == np.int16:
            window *= 1.0 / 32768.0
        window -= window.mean()
        window /= np.sqrt(window.var() + NORM_EPS)
        features = self._features(window)
        (out,) = self._session.run(None, {self._input_name: features[None]}, self._run_options)
        return float(np.asarray(out).reshape(-1)[0])


def load_turn_model(settings: VadSettings, resolve: Callable[[str], Path]) -> TurnModel | None:
    """The configured turn model, or None (off, or missing: the endpoint falls back to a fixed silence)."""
    if settings.turn_model == "off":
        return None
    try:
        return SmartTurn(resolve(MODEL_NAME))
    except ApplianceError as err:
        _LOGGER.warning(
            "Semantic end of turn is off: %s. Requests end after %.2f s of silence instead.",
            err.message,
            settings.end_silence_s,
        )
        return None


class TurnJudge:
    """Asks a :class:`TurnModel` on its own thread: :meth:`ask` returns at once, :meth:`answer` collects.

    Only the latest question matters (a new pause makes the previous answer stale),
    so asking again forgets the one before.  A model that fails answers None.
    """

    def __init__(self, model: TurnModel) -> None:
        self.model = model
        self.last_s = 0.0
        """Seconds the last answer took to compute."""
        self._executor: ThreadPoolExecutor | None = None
        self._pending: tuple[tuple[int, int], Future[float | None]] | None = None

    def ask(self, key: tuple[int, int], audio: np.ndarray) -> None:
        """Start judging ``audio`` (copied: the caller reuses its buffer); ``key`` (capture, pause) comes back."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="turn-model")
        clip = audio[-WINDOW_S * SAMPLE_RATE :].copy()
        self._pending = (key, self._executor.submit(self._judge, clip))

    def answer(self, wait_s: float = 0.0) -> tuple[tuple[int, int], float | None] | None:
        """The pending question's key and probability once computed (waiting up to ``wait_s``), else None."""
        if self._pending is None:
            return None
        key, future = self._pending
        try:
            probability = future.result(timeout=wait_s)
        except FutureTimeout:
            return None
        self._pending = None
        return key, probability

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def forget(self) -> None:
        """Drop the pending question (its capture is over)."""
        self._pending = None

    def close(self) -> None:
        """Stop the worker thread (a later :meth:`ask` starts a new one)."""
        self._pending = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _judge(self, clip: np.ndarray) -> float | None:
        started = time.perf_counter()
        try:
            probability = self.model.completion(clip)
        except Exception:  # a failed judgement must never stop the endpoint (logged with its traceback)
            _LOGGER.exception("The turn model failed; this pause ends after the fixed silence")
            return None
        self.last_s = time.perf_counter() - started
        return probability
