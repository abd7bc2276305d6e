"""Wake-word detection: openWakeWord's melspectrogram → embedding → wake-model chain.

The networks are the ``.tflite`` files that ``pyopen-wakeword`` carries, run
with ``tflite-runtime`` (or LiteRT); a ``.onnx`` wake model runs with
onnxruntime.  The shared features are computed once per 80 ms frame for every
wake word.  With the voice gate on, the networks only run while there is
sound; when the gate opens, the features of the last two seconds are rebuilt
from the audio history, so a detection is the same as with the chain running
all the time, at a fraction of the idle CPU.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import FRAME_SAMPLES, FRAME_SECONDS
from appliance.audio.buffer import SampleRing
from appliance.core.errors import WakeError
from appliance.engines.vad import VoiceGate
from appliance.settings import BUILTIN_WAKE_WORDS, WakeSettings, wake_word_name

_LOGGER = logging.getLogger(__name__)

MEL_BINS = 32
MEL_CONTEXT = 480
"""Samples of the previous frame the melspectrogram needs (3 hops of 160)."""
MELS_PER_FRAME = 8
EMB_WINDOW = 76
"""Mel frames per embedding (775 ms)."""
EMB_FEATURES = 96
BUILTIN = BUILTIN_WAKE_WORDS


# ---------------------------------------------------------------------------
# Pure decision logic


@dataclass(frozen=True)
class WakeRule:
    threshold: float = 0.5
    """Score a frame must reach."""
    trigger_level: int = 1
    """Consecutive frames at/above the threshold to trigger."""
    refractory_s: float = 2.0
    """Seconds after a detection during which this word cannot trigger again."""


class WakeDecider:
    """Turns a stream of scores into detections (threshold, trigger level, refractory)."""

    def __init__(self, rule: WakeRule) -> None:
        self.rule = rule
        self._run = 0
        self._last_at = -math.inf

    def process(self, score: float, at_s: float) -> bool:
        """True when this score (at audio time ``at_s``) completes a detection."""
        if at_s - self._last_at < self.rule.refractory_s:
            self._run = 0
            return False
        if score < self.rule.threshold:
            self._run = 0
            return False
        self._run += 1
        if self._run >= self.rule.trigger_level:
            self._run = 0
            self._last_at = at_s
            return True
        return False

    def interrupt(self) -> None:
        """Forget a partial run (the audio it came from was not analysed)."""
        self._run = 0

    def restart(self) -> None:
        """A new audio timeline begins: forget the refractory period too."""
        self._run = 0
        self._last_at = -math.inf


# ---------------------------------------------------------------------------
# Network runtimes


class Net:
    """One model behind a two-call API: ``resize(shape)`` and ``run(array)``."""

    def __init__(self, path: Path, threads: int = 1, input_shape: tuple[int, ...] | None = None) -> None:
        self.path = path
        if path.suffix == ".onnx":
            self._init_onnx(threads)
        else:
            self._init_tflite(threads, input_shape)

    def _init_tflite(self, threads: int, input_shape: tuple[int, ...] | None) -> None:
        interpreter_cls = _tflite_interpreter()
        try:
            self._it: Any = interpreter_cls(model_path=str(self.path), num_threads=threads)
            if input_shape is not None:  # dynamic inputs (the melspectrogram) must be sized first
                self._it.resize_tensor_input(0, list(input_shape))
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise WakeError("wake-model-invalid", f"cannot load {self.path}: {err}") from err
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]
        self.input_shape = tuple(int(d) for d in self._it.get_input_details()[0]["shape"])
        self._session: Any = None

    def _init_onnx(self, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            self._it = None
        except Exception as err:
            raise WakeError("wake-model-invalid", f"cannot load {self.path}: {err}") from err
        meta = self._session.get_inputs()[0]
        self._onnx_input = meta.name
        self.input_shape = tuple(d if isinstance(d, int) else 1 for d in meta.shape)

    def resize(self, shape: tuple[int, ...]) -> None:
        if self._session is None and tuple(shape) != self.input_shape:
            self._it.resize_tensor_input(self._in, list(shape))
            self._it.allocate_tensors()
            self.input_shape = tuple(shape)

    def run(self, array: np.ndarray) -> np.ndarray:
        if self._session is not None:
            return self._session.run(None, {self._onnx_input: array})[0]
        self._it.set_tensor(self._in, array)
        self._it.invoke()
        return self._it.get_tensor(self._out)


def _tflite_interpreter() -> Callable[..., Any]:
    try:
        from tflite_runtime.interpreter import Interpreter
    except ImportError:
        try:
            from ai_edge_litert.interpreter import Interpreter  # tflite-runtime's successor (Python 3.12+)
        except ImportError as err:
            raise WakeError(
                "tflite-missing", "neither tflite-runtime nor ai-edge-litert is installed; run scripts/setup"
            ) from err
    return Interpreter


# ---------------------------------------------------------------------------
# Shared features


class WakeFeatures:
    """Streaming melspectrogram + embedding, with a rebuild from raw history."""

    def __init__(self, mel_path: Path, embedding_path: Path, threads: int = 1) -> None:
        self._mel = Net(mel_path, threads, input_shape=(1, FRAME_SAMPLES + MEL_CONTEXT))
        self._emb = Net(embedding_path, threads)
        self._audio = np.zeros((1, FRAME_SAMPLES + MEL_CONTEXT), dtype=np.float32)
        self._mels = np.zeros((EMB_WINDOW, MEL_BINS), dtype=np.float32)
        self._emb_in = np.zeros((1, EMB_WINDOW, MEL_BINS, 1), dtype=np.float32)

    def push_audio(self, frame: np.ndarray) -> None:
        """Keep the melspectrogram's input window current (cheap; runs every frame)."""
        self._audio[0, :MEL_CONTEXT] = self._audio[0, FRAME_SAMPLES:]
        self._audio[0, MEL_CONTEXT:] = frame

    def step(self) -> np.ndarray:
        """The embedding for the newest frame (after :meth:`push_audio`)."""
        mels = self._mel.run(self._audio).reshape(-1, MEL_BINS) / 10.0 + 2.0
        n = len(mels)
        self._mels[:-n] = self._mels[n:]
        self._mels[-n:] = mels
        return self._embed(self._mels)

    def rebuild(self, history: np.ndarray, count: int) -> np.ndarray:
        """Embeddings of the last ``count`` frames, recomputed from raw audio.

        The melspectrogram is re-run frame by frame on the same windows the
        streaming path uses (its log scaling depends on the window), so the
        result equals what continuous processing would have produced.
        """
        frames = count - 1 + -(-EMB_WINDOW // MELS_PER_FRAME)
        need = frames * FRAME_SAMPLES + MEL_CONTEXT
        audio = np.zeros(need, dtype=np.float32)
        take = history[-need:]
        audio[need - len(take) :] = take
        mels = np.zeros((frames * MELS_PER_FRAME, MEL_BINS), dtype=np.float32)
        for i in range(frames):
            self._audio[0, :] = audio[i * FRAME_SAMPLES : i * FRAME_SAMPLES + FRAME_SAMPLES + MEL_CONTEXT]
            block = self._mel.run(self._audio).reshape(-1, MEL_BINS)
            mels[i * MELS_PER_FRAME : (i + 1) * MELS_PER_FRAME] = block / 10.0 + 2.0
        out = np.zeros((count, EMB_FEATURES), dtype=np.float32)
        for i in range(count):
            end = len(mels) - (count - 1 - i) * MELS_PER_FRAME
            out[i] = self._embed(mels[end - EMB_WINDOW : end])
        self._mels[:] = mels[-EMB_WINDOW:]
        return out

    def _embed(self, window: np.ndarray) -> np.ndarray:
        self._emb_in[0, :, :, 0] = window
        return self._emb.run(self._emb_in).reshape(EMB_FEATURES)


class WakeModel:
    """One wake word: its network, its embedding window and its decision rule."""

    def __init__(self, name: str, path: Path, rule: WakeRule, threads: int = 1) -> None:
        self.name = name
        self.net = Net(path, threads)
        self.frames = int(self.net.input_shape[1])
        self.window = np.zeros((1, self.frames, EMB_FEATURES), dtype=np.float32)
        self.decider = WakeDecider(rule)
        self.last_score = 0.0

    def push(self, embedding: np.ndarray) -> float:
        self.window[0, :-1] = self.window[0, 1:]
        self.window[0, -1] = embedding
        self.last_score = float(self.net.run(self.window).reshape(-1)[0])
        return self.last_score

    def fill(self, embeddings: np.ndarray) -> None:
        n = min(len(embeddings), self.frames)
        self.window[0, -n:] = embeddings[-n:]


@dataclass(frozen=True)
class Detection:
    model: str
    score: float
    at_s: float


class WakeWordDetector:
    """Several wake words at once on one shared feature chain; call once per 80 ms frame."""

    def __init__(
        self,
        features: WakeFeatures,
        models: Iterable[WakeModel],
        *,
        gate: VoiceGate | None = None,
        hangover_s: float = 1.5,
    ) -> None:
        self.features = features
        self.models = list(models)
        self.gate = gate
        self.hangover_s = hangover_s
        self._history = SampleRing(3.0)
        self._last_voice_at = -math.inf
        self._stale = True
        self.frames_run = 0
        self.frames_seen = 0

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def set_models(self, models: Iterable[WakeModel]) -> None:
        """Swap the wake words (the feature state stays valid)."""
        self.models = list(models)
        self._stale = True

    def set_rules(self, rules: dict[str, WakeRule]) -> None:
        """Give each loaded word its rule by name (words without one keep theirs)."""
        for model in self.models:
            model.decider.rule = rules.get(model.name, model.decider.rule)

    def set_threshold(self, threshold: float) -> None:
        for model in self.models:
            rule = model.decider.rule
            model.decider.rule = WakeRule(threshold, rule.trigger_level, rule.refractory_s)

    def process(self, frame: np.ndarray, at_s: float) -> Detection | None:
        """Analyse one frame; ``at_s`` is the audio time at the frame's end."""
        self.frames_seen += 1
        self._history.extend(frame)
        self.features.push_audio(frame)
        if self.gate is not None:
            if self.gate.is_voice(frame):
                self._last_voice_at = at_s
            if at_s - self._last_voice_at > self.hangover_s:
                if not self._stale:
                    for model in self.models:
                        model.decider.interrupt()
                self._stale = True
                return None
        self.frames_run += 1
        if self._stale:
            self._catch_up()
        else:
            embedding = self.features.step()
            for model in self.models:
                model.push(embedding)
        return self._decide(at_s)

    def observe(self, frame: np.ndarray) -> None:
        """Keep the audio history current without analysing (while a request is captured)."""
        self.frames_seen += 1
        self._history.extend(frame)
        self.features.push_audio(frame)
        self._stale = True

    def _catch_up(self) -> None:
        longest = max((m.frames for m in self.models), default=1)
        embeddings = self.features.rebuild(self._history.latest().astype(np.float32), longest)
        for model in self.models:
            model.fill(embeddings)  # the window now ends with the newest frame's embedding
            model.last_score = float(model.net.run(model.window).reshape(-1)[0])
        self._stale = False

    def _decide(self, at_s: float) -> Detection | None:
        best: Detection | None = None
        for model in self.models:
            if model.decider.process(model.last_score, at_s) and (best is None or model.last_score > best.score):
                best = Detection(model.name, model.last_score, at_s)
        return best

    def reset(self) -> None:
        """Recompute the features before the next analysis (after a captured request)."""
        self._stale = True
        for model in self.models:
            model.decider.interrupt()

    def restart(self) -> None:
        """A new audio timeline (a new front end or recording): forget everything."""
        self._history.clear()
        self._last_voice_at = -math.inf
        self.reset()
        for model in self.models:
            model.decider.restart()

    @property
    def duty(self) -> float:
        """Fraction of frames on which the networks ran."""
        return self.frames_run / self.frames_seen if self.frames_seen else 0.0


def load_detector(settings: WakeSettings, resolve: Callable[[str], Path]) -> WakeWordDetector:
    """Build the detector for the configured wake words (``resolve`` maps names to files)."""
    features = WakeFeatures(resolve("oww-melspectrogram"), resolve("oww-embedding"), settings.threads)
    models = load_models(settings, resolve)
    gate = VoiceGate() if settings.vad_gate else None
    return WakeWordDetector(features, models, gate=gate, hangover_s=settings.gate_hangover_s)


def wake_rules(settings: WakeSettings) -> dict[str, WakeRule]:
    """Each configured wake word's rule: its ``[[wake.tuning]]`` values over the ``[wake]`` ones."""
    tuned = {t.name: t for t in settings.tuning}
    rules = {}
    for ref in settings.models:
        name = wake_word_name(ref)
        own = tuned.get(name)
        rules[name] = WakeRule(
            own.threshold if own and own.threshold > 0 else settings.threshold,
            own.trigger_level if own and own.trigger_level > 0 else settings.trigger_level,
            own.refractory_s if own and own.refractory_s >= 0 else settings.refractory_s,
        )
    return rules


def load_models(settings: WakeSettings, resolve: Callable[[str], Path]) -> list[WakeModel]:
    """Load each configured wake word with its rule."""
    rules = wake_rules(settings)
    models = []
    for ref in settings.models:
        name = wake_word_name(ref)
        models.append(WakeModel(name, resolve(ref), rules[name], settings.threads))
    if not models:
        raise WakeError("wake-none", "wake.models is empty: configure at least one wake word")
    return models


def frame_time(index: int) -> float:
    """Audio time at the end of frame ``index`` (0-based)."""
    return (index + 1) * FRAME_SECONDS
