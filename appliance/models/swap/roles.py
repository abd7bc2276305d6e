"""How each role's engine is loaded beside the running one, probed, and put in place.

``load`` and ``probe`` run on a worker thread and touch nothing that runs;
``install`` runs on the event loop at a turn boundary and only moves
references, so it cannot fail half-way; it returns the engine it replaced,
which the swapper then hands to ``close`` (as it does a candidate that failed).
A turn in flight keeps the engine its attempt was made with (attempts capture
their engines when created).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.buffer import resample
from appliance.control.controller import Core
from appliance.core.errors import ApplianceError
from appliance.engines.loader import Engines
from appliance.models.registry import ModelRegistry
from appliance.models.swap.checks import Candidate, SwapError
from appliance.models.swap.state import with_ref
from appliance.settings import Settings

PROBE_PROMPT = "Say hello in three words."
PROBE_SENTENCE = "Hello, this is a test of the new voice."
PROBE_UTTERANCE = "What time is it?"


class Role(Protocol):
    def load(self, model: Candidate, settings: Settings, registry: ModelRegistry) -> Any: ...
    def probe(self, engine: Any, core: Core, cancel: threading.Event | None = None) -> str:
        """A short real use of ``engine``; blocking; stops early once ``cancel`` is set where the engine can."""
        ...

    def install(self, engine: Any, core: Core, engines: Engines) -> Any:
        """Put ``engine`` in place; returns the engine it replaced."""
        ...

    def close(self, engine: Any) -> None:
        """Free what ``engine`` holds now, not when the garbage collector gets to it."""
        ...


def _probe_failed(role: str, why: str, err: Exception | None = None) -> SwapError:
    detail = f": {err}" if err is not None else ""
    return SwapError("model-probe-failed", f"the new {role} model {why}{detail}")


class LlmRole:
    def load(self, model: Candidate, settings: Settings, registry: ModelRegistry) -> Any:
        from appliance.engines.llm.local import LlamaLlm

        return LlamaLlm(model.path, settings.llm)

    def probe(self, engine: Any, core: Core, cancel: threading.Event | None = None) -> str:
        cancel = cancel or threading.Event()
        try:
            engine.prefill(engine.system_messages(), cancel)  # the system prompt into its KV cache, as at start-up
            messages = [*engine.system_messages(), {"role": "user", "content": PROBE_PROMPT}]
            text = "".join(engine.stream(messages, cancel, max_tokens=12)).strip()
        except ApplianceError as err:
            raise _probe_failed("llm", "could not generate", err) from err
        if not text:
            raise _probe_failed("llm", f"gave no reply to {PROBE_PROMPT!r}")
        return text

    def install(self, engine: Any, core: Core, engines: Engines) -> Any:
        from appliance.engines.llm.router import RoutedLlm

        if isinstance(engines.llm, RoutedLlm):  # the router (core's, the pipeline's) keeps its server
            old, engines.llm.local = engines.llm.local, engine
            return old
        old = engines.llm
        core.llm = core.pipeline.llm = engines.llm = engine
        return old

    def close(self, engine: Any) -> None:
        engine.close()


class TtsRole:
    def load(self, model: Candidate, settings: Settings, registry: ModelRegistry) -> Any:
        from appliance.engines.tts import PiperTts

        return PiperTts(model.path, settings.tts)

    def probe(self, engine: Any, core: Core, cancel: threading.Event | None = None) -> str:
        try:
            audio = engine.synthesize_all(PROBE_SENTENCE)
        except ApplianceError as err:
            raise _probe_failed("tts", "could not speak", err) from err
        if audio.size < engine.sample_rate // 2 or int(np.abs(audio).max()) < 500:
            raise _probe_failed("tts", f"made {audio.size / engine.sample_rate:.2f} s of near-silence")
        return f"{audio.size / engine.sample_rate:.2f} s of speech"

    def install(self, engine: Any, core: Core, engines: Engines) -> Any:
        old = engines.tts
        core.pipeline.tts = engines.tts = engine
        return old

    def close(self, engine: Any) -> None:
        """Nothing to close: Piper's ONNX Runtime session has no close(); it goes with its last reference."""


class SttRole:
    def __init__(self) -> None:
        self._utterance: np.ndarray | None = None

    def load(self, model: Candidate, settings: Settings, registry: ModelRegistry) -> Any:
        from appliance.engines.stt.factory import load_stt

        return load_stt(with_ref(settings, "stt", model.ref).stt, registry)

    def probe(self, engine: Any, core: Core, cancel: threading.Event | None = None) -> str:
        if self._utterance is None:  # a request in the running voice: what the microphone would hear
            tts = core.pipeline.tts
            speech = resample(tts.synthesize_all(PROBE_UTTERANCE), tts.sample_rate, SAMPLE_RATE)
            pad = np.zeros(SAMPLE_RATE // 4, dtype=np.int16)
            self._utterance = np.concatenate([pad, speech, pad])
        try:
            text = engine.transcribe(self._utterance).text.strip()
        except ApplianceError as err:
            raise _probe_failed("stt", "could not transcribe", err) from err
        if "time" not in text.lower():
            raise _probe_failed("stt", f"heard {text!r} for {PROBE_UTTERANCE!r}")
        return text

    def install(self, engine: Any, core: Core, engines: Engines) -> Any:
        old = engines.stt
        core.pipeline.stt = engines.stt = engine
        core.frontend.set_streaming(not engine.supports_speculation)
        return old

    def close(self, engine: Any) -> None:
        """Nothing to close: the Whisper and Vosk engines have no close(); they go with their last reference."""


class WakeRole:
    """One wake word instead of the running ones (its rule from ``[wake]`` and ``[[wake.tuning]]``)."""

    def load(self, model: Candidate, settings: Settings, registry: ModelRegistry) -> Any:
        from appliance.engines.wake import load_models

        return load_models(with_ref(settings, "wake", model.ref).wake, registry.resolve)

    def probe(self, engine: Any, core: Core, cancel: threading.Event | None = None) -> str:
        return f"{len(engine)} model loaded"

    def install(self, engine: Any, core: Core, engines: Engines) -> Any:
        core.wake.set_models(engine)
        core.pipeline.wake_words = tuple(m.name for m in engine)
        return None

    def close(self, engine: Any) -> None:
        """Nothing to close: the wake models (a few MB) go with their last reference."""


def roles() -> dict[str, Role]:
    return {"llm": LlmRole(), "stt": SttRole(), "tts": TtsRole(), "wake": WakeRole()}
