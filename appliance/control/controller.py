"""The running appliance's state API (:class:`~appliance.control.api.ControlApi`): what commands change.

Mute, volume, wake words and sensitivity, the turns commands start, ``reload``
(each part applies what it can of the new settings) and ``status`` (each part
reports its own piece).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from appliance import __version__
from appliance.audio.sink import AudioSink
from appliance.control.api import TurnResult
from appliance.core.bus import Bus
from appliance.core.errors import ConfigError
from appliance.core.events import (
    MuteChanged,
    VolumeChanged,
    WakeWordChanged,
)
from appliance.core.feature import Feature
from appliance.core.procstat import memory_mb
from appliance.engines.llm.protocol import LanguageModel
from appliance.engines.llm.router import RoutedLlm
from appliance.engines.wake import (
    BUILTIN,
    WakeModel,
    WakeWordDetector,
    load_models,
    wake_rules,
)
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings, load_settings, wake_word_name
from appliance.voice.conversation import Conversation
from appliance.voice.frontend import FrontEnd
from appliance.voice.pipeline import Pipeline
from appliance.voice.turn_record import Source, TurnRecord

LIVE_SECTIONS = ("wake", "vad", "llm", "audio")
"""Settings sections the core applies on ``reload``; features apply their own."""


class ModelSwaps(Protocol):
    """Live model swaps (``appliance.models.swap``): a reload's changed models go through them."""

    async def reload(self, new_file: Settings) -> tuple[Settings, dict[str, Any]]:
        """Swap the models the file changed; the settings to run with (refused ones kept) and a report."""
        ...


@dataclass
class Core:
    """The voice loop's parts, built by the composition root (:func:`appliance.runtime.app.build_core`)."""

    settings: Settings
    bus: Bus
    registry: ModelRegistry
    frontend: FrontEnd
    wake: WakeWordDetector
    llm: LanguageModel
    conversation: Conversation
    pipeline: Pipeline
    sink: AudioSink


def result(record: TurnRecord) -> TurnResult:
    return TurnResult(
        record.turn_id, record.outcome.value, record.transcript, record.reply, record.intent, dict(record.extra)
    )


class Controller:
    """Implements ControlApi over the core and the features."""

    def __init__(
        self,
        core: Core,
        features: Sequence[Feature],
        *,
        config_path: Path | None,
        request_restart: Callable[[], None],
        health: Callable[[], dict[str, Any]],
        models: ModelSwaps | None = None,
    ) -> None:
        self.core = core
        self.features = features
        self.config_path = config_path
        self._request_restart = request_restart
        self._health = health
        self.started_at = time.time()
        self.last_errors: deque[dict[str, Any]] = deque(maxlen=5)
        self._wake_models: dict[tuple[str, int], WakeModel] = {}
        """Every wake model loaded so far, by (name, threads): at most one per configured word."""
        self._threshold_override: float | None = None
        """Threshold from a sensitivity command, for every word until the next reload."""
        self.models = models
        """Live model swaps; without them a changed model waits for a restart."""

    @property
    def settings(self) -> Settings:
        return self.core.settings

    # -- mute, volume, wake words -------------------------------------------------------
    @property
    def muted(self) -> bool:
        return self.core.frontend.muted

    def set_muted(self, muted: bool) -> None:
        self.core.frontend.set_muted(muted)
        if muted:
            self.core.frontend.cancel_capture()
        self.core.bus.publish(MuteChanged(muted=muted))

    @property
    def volume(self) -> int:
        return self.core.sink.volume

    def set_volume(self, level: int) -> None:
        self.core.sink.volume = level
        self.core.bus.publish(VolumeChanged(volume=level))

    @property
    def wake_words(self) -> tuple[str, ...]:
        return tuple(self.core.wake.names)

    @property
    def available_wake_words(self) -> tuple[str, ...]:
        return tuple(BUILTIN)

    async def set_wake_words(self, names: tuple[str, ...]) -> None:
        core = self.core
        wake_settings = replace(core.settings.wake, models=names)
        for model in core.wake.models:  # a word switched away from is kept: switching back allocates nothing
            self._wake_models.setdefault((model.name, core.settings.wake.threads), model)
        cached = self._wake_models
        missing = tuple(n for n in names if (wake_word_name(n), wake_settings.threads) not in cached)
        if missing:
            loaded = await asyncio.to_thread(load_models, replace(wake_settings, models=missing), core.registry.resolve)
            for model in loaded:
                cached[(model.name, wake_settings.threads)] = model
        models = [cached[(wake_word_name(n), wake_settings.threads)] for n in names]
        for model in models:
            model.window[:] = 0  # no scores carried over from the last time it listened
        core.wake.set_models(models)
        core.wake.set_rules(wake_rules(wake_settings))
        if self._threshold_override is not None:  # a sensitivity command outlives a change of word
            core.wake.set_threshold(self._threshold_override)
        core.settings = replace(core.settings, wake=wake_settings)
        core.pipeline.wake_words = names
        core.bus.publish(WakeWordChanged(models=names, sensitivity=self.sensitivity))

    @property
    def sensitivity(self) -> float:
        """1 - the (first) wake word's threshold: what the sensitivity command and entity show."""
        models = self.core.wake.models
        return round(1 - (models[0].decider.rule.threshold if models else 0.5), 3)

    def set_sensitivity(self, value: float) -> None:
        """Every active wake word gets threshold 1 - value, over per-word tuning, until a reload."""
        self._threshold_override = round(1.0 - value, 3)
        self.core.wake.set_threshold(self._threshold_override)
        self.core.bus.publish(WakeWordChanged(models=self.wake_words, sensitivity=self.sensitivity))

    # -- turns ------------------------------------------------------------------------
    async def say(self, text: str) -> TurnResult:
        return result(await self.core.pipeline.say(text))

    async def ask(self, text: str, *, speak: bool = True) -> TurnResult:
        return result(await self.core.pipeline.ask(text, speak=speak))

    async def listen(self, *, source: str = "listen") -> int:
        await self.core.pipeline.interrupt()
        return self.core.pipeline.listen(Source(source))

    async def stop(self) -> bool:
        return await self.core.pipeline.interrupt()

    def request_restart(self) -> None:
        self._request_restart()

    # -- reload -----------------------------------------------------------------------
    async def reload(self) -> dict[str, Any]:
        """Re-read the config file; the core and every feature apply what they can change live."""
        if self.config_path is None:
            raise ConfigError("config-none", "the daemon was started without --config; nothing to reload")
        new = load_settings(self.config_path)
        old = self.core.settings
        swaps: dict[str, Any] | None = None
        if self.models is not None:  # changed models are loaded beside the running ones and swapped in
            new, swaps = await self.models.reload(new)
        changed = [f.name for f in dataclasses.fields(Settings) if getattr(new, f.name) != getattr(old, f.name)]
        applied = set(await self._apply_core(new, old))
        for feature in self.features:
            applied.update(feature.apply(new))
        wake = new.wake if "wake" in applied else replace(new.wake, models=old.wake.models)
        self.core.settings = replace(new, wake=wake)
        report: dict[str, Any] = {
            "applied": [s for s in changed if s in applied],
            "needs_restart": [s for s in changed if s not in applied],
        }
        if swaps is not None:
            report["models"] = swaps
        return report

    async def _apply_core(self, new: Settings, old: Settings) -> list[str]:
        core, applied = self.core, []
        if new.wake != old.wake:
            self._threshold_override = None  # the file's thresholds win again
            core.settings = replace(core.settings, wake=new.wake)
            if new.wake.models != old.wake.models:
                await self.set_wake_words(new.wake.models)
            else:
                core.wake.set_rules(wake_rules(new.wake))
            applied.append("wake")
        if new.vad != old.vad:
            core.frontend.vad = new.vad
            applied.append("vad")
        added_server = new.llm.server_url and not isinstance(core.llm, RoutedLlm)  # the router is built at start
        if new.llm != old.llm and new.llm.model == core.settings.llm.model and not added_server:
            core.llm.settings = new.llm  # a new model is a swap, not this
            core.conversation.system_prompt = new.llm.system_prompt
            applied.append("llm")
        if new.audio != old.audio:
            core.sink.volume = new.audio.volume
            core.pipeline.earcon = new.audio.earcon
            applied.append("audio")
        return applied

    # -- status -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        core, fe = self.core, self.core.frontend
        history = core.pipeline.history
        last = history[-1] if history else None
        s = core.settings
        out: dict[str, Any] = {
            "version": __version__,
            "device_id": s.device_id,
            "stage": core.pipeline.stage.value,
            "muted": fe.muted,
            "volume": core.sink.volume,
            "wake_words": core.wake.names,
            "sensitivity": self.sensitivity,
            "capture": {
                "available": fe.capture_available,
                "device": fe.capture_message,
                "dropped_frames": getattr(fe.source, "dropped", 0) if fe.source else 0,
                "wake_duty": round(core.wake.duty, 3),
            },
            "uptime_s": round(time.time() - self.started_at, 1),
            "turns": len(history),
            "last_turn": None
            if last is None
            else {
                "transcript": last.transcript,
                "reply": last.reply,
                "outcome": last.outcome.value,
                "llm_backend": last.marks.llm_backend,
                "reply_check": last.marks.reply_check or None,
                "timings": last.timings(),
            },
            "models": {
                "wake": core.wake.names,
                "stt": s.stt.model if s.stt.engine == "whisper" else s.stt.vosk_model,
                "llm": s.llm.model,
                "tts": s.tts.voice,
            },
            "vision": {"enabled": False},
            "memory": None,
            "mqtt": None,
            "reply_check": core.pipeline.reply_checker.counts.as_dict(),
            "last_errors": list(self.last_errors),
            "memory_mb": memory_mb(),  # peak resident set (VmHWM), MB = 10^6 bytes
            "threads": threading.active_count(),
            "pid": os.getpid(),
            **self._health(),
        }
        for feature in self.features:
            part = feature.status()
            if part is not None:
                out[feature.name] = dict(part)
        return out
