"""Load every engine the voice loop needs from the settings (blocking, timed, warmed up)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.core.procstat import memory_mb
from appliance.engines.embedding import MiniLmEmbedder, load_embedder
from appliance.engines.emotion import EmotionAnalyzer
from appliance.engines.llm.local import LlamaLlm
from appliance.engines.llm.protocol import LanguageModel
from appliance.engines.llm.router import RoutedLlm
from appliance.engines.smart_turn import TurnModel, load_turn_model
from appliance.engines.stt import SttEngine
from appliance.engines.stt.factory import load_stt
from appliance.engines.tts import PiperTts
from appliance.engines.vad import SpeechDetector
from appliance.engines.vad import load_detector as load_speech_detector
from appliance.engines.wake import WakeWordDetector
from appliance.engines.wake import load_detector as load_wake_detector
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings

_LOGGER = logging.getLogger(__name__)


@dataclass
class Engines:
    """Every loaded model, ready to use."""

    wake: WakeWordDetector
    speech: SpeechDetector
    stt: SttEngine
    llm: LanguageModel
    """The conversation's LLM: the local model, or the router in front of it and a LAN server."""
    tts: PiperTts
    load_s: dict[str, float]
    rss_mb: dict[str, float] = field(default_factory=dict)
    """Resident memory each load (and the warm-up) added to the process, MB = 10^6 bytes."""
    embedder: MiniLmEmbedder | None = None
    """The memory's sentence-embedding model (None when memory is off)."""
    emotion: EmotionAnalyzer | None = None
    turn: TurnModel | None = None
    """The semantic end-of-turn model (None when ``vad.turn_model`` is off or its file is missing)."""


def load_engines(settings: Settings, registry: ModelRegistry, *, warm_up: bool = True) -> Engines:
    """Load (and warm up) all engines; blocking, seconds per engine in ``load_s``."""
    times: dict[str, float] = {}
    rss: dict[str, float] = {}

    def timed(name: str, build: Callable[[], Any]) -> Any:
        start, before = time.perf_counter(), memory_mb(field="VmRSS")
        value = build()
        times[name] = round(time.perf_counter() - start, 3)
        rss[name] = round(memory_mb(field="VmRSS") - before, 1)
        _LOGGER.info("Loaded %s in %.2f s (%+.1f MB resident)", name, times[name], rss[name])
        return value

    wake = timed("wake", lambda: load_wake_detector(settings.wake, registry.resolve))
    speech = timed("vad", lambda: load_speech_detector(settings.vad, registry.resolve))
    turn = timed("turn", lambda: load_turn_model(settings.vad, registry.resolve))
    stt = timed("stt", lambda: load_stt(settings.stt, registry))
    local: LlamaLlm = timed("llm", lambda: LlamaLlm(registry.resolve(settings.llm.model), settings.llm))
    llm: LanguageModel = local
    if settings.llm.server_url:  # replies from the LAN server, this model as the fallback
        routed = RoutedLlm(local, settings.llm)
        _LOGGER.info(
            "LLM replies from %s while it answers; %s is the fallback", routed.server_status()["url"], local.name
        )
        llm = routed
    tts = timed("tts", lambda: PiperTts(registry.resolve(settings.tts.voice), settings.tts))
    embedder, emotion = None, None
    m = settings.memory
    if m.enabled:
        embedder = timed(
            "embedding",
            lambda: load_embedder(m.embedding_model, registry.resolve, m.embedding_backend),
        )
        if settings.memory.emotion:
            emotion = timed("emotion", lambda: EmotionAnalyzer(embedder.embed_batch))
    if warm_up:
        timed("warm_up", lambda: (stt.warm_up(), llm.warm_up(), tts.warm_up()))
    return Engines(wake, speech, stt, llm, tts, times, rss, embedder, emotion, turn)
