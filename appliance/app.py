"""Composition root: build the engines and components, run the supervised loops, stop in order.

This is the only module that wires things together and the only one that
starts long-running tasks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import __version__
from .audio.sink import AudioSink
from .audio.source import AudioSource
from .bus import Bus
from .commands import Commands
from .control import ControlServer
from .conversation import Conversation
from .errors import ApplianceError, ConfigError
from .events import CaptureStatus, ErrorRaised, Event, MuteChanged, StageChanged, WakeWordChanged
from .frontend import FrontEnd, FrontEndEvent
from .home import HomeControl
from .llm import LlamaLlm
from .models import ModelRegistry
from .mqtt import DeviceInfo, MqttBridge
from .pipeline import Pipeline
from .settings import Settings, load_settings
from .stt import SttEngine
from .stt.factory import load_stt
from .supervisor import Supervisor
from .systemd import Notifier, watchdog_interval
from .tts import PiperTts
from .vad import SpeechDetector
from .vad import load_detector as load_speech_detector
from .wake import BUILTIN, WakeWordDetector, load_models
from .wake import load_detector as load_wake_detector

_LOGGER = logging.getLogger(__name__)

EXIT_RESTART = 75
"""Exit status that asks systemd (RestartForceExitStatus=75) to start the daemon again."""


@dataclass
class Engines:
    """Every loaded model, ready to use."""

    wake: WakeWordDetector
    speech: SpeechDetector
    stt: SttEngine
    llm: LlamaLlm
    tts: PiperTts
    load_s: dict[str, float]


def load_engines(settings: Settings, registry: ModelRegistry, *, warm_up: bool = True) -> Engines:
    """Load (and warm up) all engines; blocking, seconds per engine in ``load_s``."""
    times: dict[str, float] = {}

    def timed(name: str, build: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = build()
        times[name] = round(time.perf_counter() - start, 3)
        _LOGGER.info("Loaded %s in %.2f s", name, times[name])
        return value

    wake = timed("wake", lambda: load_wake_detector(settings.wake, registry.resolve))
    speech = timed("vad", lambda: load_speech_detector(settings.vad, registry.resolve))
    stt = timed("stt", lambda: load_stt(settings.stt, registry))
    llm = timed("llm", lambda: LlamaLlm(registry.resolve(settings.llm.model), settings.llm))
    tts = timed("tts", lambda: PiperTts(registry.resolve(settings.tts.voice), settings.tts))
    if warm_up:
        timed("warm_up", lambda: (stt.warm_up(), llm.warm_up(), tts.warm_up()))
    return Engines(wake, speech, stt, llm, tts, times)


class Appliance:
    """The running daemon: front end, pipeline, commands, control socket, supervision."""

    def __init__(
        self,
        settings: Settings,
        engines: Engines,
        *,
        registry: ModelRegistry,
        source_factory: Callable[[], AudioSource],
        sink: AudioSink,
        config_path: Path | None = None,
        notifier: Notifier | None = None,
        control: bool = True,
    ) -> None:
        self.settings = settings
        self.engines = engines
        self.registry = registry
        self.config_path = config_path
        self.sink = sink
        self.sink.volume = settings.audio.volume
        self.notifier = notifier or Notifier()
        self.bus = Bus()
        self.supervisor = Supervisor()
        self.started_at = time.time()
        self.exit_code = 0
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.wake = engines.wake
        self.frontend = FrontEnd(
            source_factory,
            engines.wake,
            engines.speech,
            settings.vad,
            self._from_audio_thread,
            preroll_s=settings.audio.preroll_s,
            retry_s=settings.audio.retry_s,
        )
        self.conversation = Conversation(
            settings.llm.system_prompt, max_turns=settings.llm.history_turns, timeout_s=settings.llm.history_timeout_s
        )
        self.pipeline = Pipeline(
            settings=settings,
            frontend=self.frontend,
            stt=engines.stt,
            llm=engines.llm,
            tts=engines.tts,
            sink=sink,
            bus=self.bus,
            conversation=self.conversation,
        )
        self.commands = Commands(self)
        self.mqtt = self._build_mqtt() if settings.mqtt.enabled else None
        if settings.mqtt.devices:
            self.home = HomeControl(
                settings.mqtt.devices, publish=self._publish_device, report=self.bus.publish, model=engines.llm
            )
            self.pipeline.intents.append(self.home)
            self.commands.register("home.devices", self._home_devices)
        self.control = (
            ControlServer(settings.socket_path, self.commands) if control and settings.control.enabled else None
        )
        self._audio_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="audio")

    def _build_mqtt(self) -> MqttBridge:
        camera = bool(getattr(getattr(self.settings, "vision", None), "enabled", False))  # [vision] may be absent
        info = DeviceInfo(self.settings.device_id, self.settings.device.name, tuple(BUILTIN), presence=camera)
        return MqttBridge(self.settings, bus=self.bus, execute=self.commands.execute, snapshot=self.status, info=info)

    def _publish_device(self, topic: str, payload: str, retain: bool) -> bool:
        return self.mqtt is not None and self.mqtt.publish_device(topic, payload, retain=retain)

    async def _home_devices(self, args: Any) -> dict[str, Any]:
        states = self.mqtt.device_states if self.mqtt is not None else {}
        return {
            "devices": [
                {"name": d.name, "area": d.area, "kind": d.kind, "state": states.get(d.state_topic)}
                for d in self.settings.mqtt.devices
            ]
        }

    # -- running ------------------------------------------------------------------
    def _from_audio_thread(self, ev: FrontEndEvent) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._on_frontend_event, ev)

    def _on_frontend_event(self, ev: FrontEndEvent) -> None:
        if ev.kind in ("capture-lost", "capture-ok"):
            self.bus.publish(CaptureStatus(available=ev.kind == "capture-ok", device=ev.message, message=ev.message))
        self.pipeline.frontend_event(ev)

    async def run(self, *, on_ready: Callable[[], None] | None = None) -> int:
        """Run until SIGTERM/SIGINT, :meth:`stop` or a restart request; returns the exit code."""
        self._loop = asyncio.get_running_loop()
        self.bus.bind(self._loop)
        self._install_signals()
        sup = self.supervisor
        if self.mqtt is not None:  # connects in the background: a dead broker never holds up the voice loop
            await self.mqtt.start()
            for name, loop_factory in self.mqtt.loops().items():
                sup.start(name, loop_factory)
        sup.start("events-log", self._log_events)
        sup.start("pipeline", self.pipeline.run)
        sup.start("audio", self._audio_loop)
        if self.control is not None:
            await self.control.start()
            sup.start("control", self._serve_control)
        interval = watchdog_interval()
        if interval:
            sup.start("watchdog", lambda: self._watchdog(interval))
        self.notifier.ready(f"listening for {', '.join(self.wake.names)}")
        _LOGGER.info("Ready: listening for %s", ", ".join(self.wake.names))
        if on_ready is not None:
            on_ready()
        try:
            await self._stop.wait()
        finally:
            await self._shutdown()
        return self.exit_code

    async def _audio_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._audio_pool, self.frontend.run)
        finally:
            self.frontend.stop()

    async def _serve_control(self) -> None:
        assert self.control is not None
        server = self.control._server
        if server is None:
            await self.control.start()
            server = self.control._server
        assert server is not None
        await server.serve_forever()

    async def _log_events(self) -> None:
        sub: Any
        with self.bus.subscribe(name="log", maxsize=1024) as sub:
            async for event in sub:
                _log_event(event)
                if isinstance(event, StageChanged):
                    self.notifier.status(f"{event.stage.value}")

    async def _watchdog(self, interval: float) -> None:
        """Ping systemd only while the loops that matter are alive."""
        while True:
            if self.healthy():
                self.notifier.watchdog()
            await asyncio.sleep(interval)

    def healthy(self) -> bool:
        """True while the pipeline loop runs and the audio thread is alive."""
        sup = self.supervisor
        audio_ok = sup.alive("audio") and (
            not self.frontend.capture_available
            or self.frontend.muted
            or time.monotonic() - self.frontend.last_frame_mono < 5.0
        )
        return sup.alive("pipeline") and audio_ok

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)

    def stop(self) -> None:
        self._stop.set()

    def request_restart(self) -> None:
        self.exit_code = EXIT_RESTART
        asyncio.get_running_loop().call_later(0.2, self.stop)

    async def _shutdown(self) -> None:
        _LOGGER.info("Stopping")
        self.notifier.stopping()
        self.frontend.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pipeline.interrupt(), timeout=3.0)
        if self.control is not None:
            await self.control.close()
        if self.mqtt is not None:
            await self.mqtt.stop()
        await self.supervisor.stop()
        await asyncio.to_thread(self._audio_pool.shutdown, True)  # the audio thread has left its loop
        self.sink.close()

    # -- state changes used by commands --------------------------------------------
    def set_muted(self, muted: bool) -> None:
        self.frontend.set_muted(muted)
        if muted:
            self.frontend.cancel_capture()
        self.bus.publish(MuteChanged(muted=muted))

    async def set_wake_words(self, names: tuple[str, ...]) -> None:
        wake_settings = replace(self.settings.wake, models=names)
        models = await asyncio.to_thread(load_models, wake_settings, self.registry.resolve)
        threshold = self.wake.models[0].decider.rule.threshold if self.wake.models else wake_settings.threshold
        self.wake.set_models(models)
        self.wake.set_threshold(threshold)
        self.settings = replace(self.settings, wake=wake_settings)
        self.pipeline._wake_words = names
        self.bus.publish(WakeWordChanged(models=names, sensitivity=round(1 - threshold, 3)))

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file and apply what can change live."""
        if self.config_path is None:
            raise ConfigError("config-none", "the daemon was started without --config; nothing to reload")
        new = load_settings(self.config_path)
        applied: list[str] = []
        restart: list[str] = []
        for section in ("device", "paths", "audio", "wake", "vad", "stt", "llm", "tts", "control", "mqtt", "log"):
            if getattr(new, section) != getattr(self.settings, section):
                (applied if section in ("wake", "vad", "llm", "audio") else restart).append(section)
        if "wake" in applied:
            if new.wake.models != self.settings.wake.models:
                await self.set_wake_words(new.wake.models)
            self.wake.set_threshold(new.wake.threshold)
        if "vad" in applied:
            self.frontend.vad = new.vad
        if "llm" in applied:
            self.engines.llm.settings = new.llm
            self.conversation.system_prompt = new.llm.system_prompt
        if "audio" in applied:
            self.sink.volume = new.audio.volume
            self.pipeline.earcon = new.audio.earcon
        self.settings = replace(
            new, wake=replace(new.wake, models=self.settings.wake.models if "wake" not in applied else new.wake.models)
        )
        return {"applied": applied, "needs_restart": restart}

    def status(self) -> dict[str, Any]:
        fe = self.frontend
        last = self.pipeline.history[-1] if self.pipeline.history else None
        threshold = self.wake.models[0].decider.rule.threshold if self.wake.models else 0.5
        return {
            "version": __version__,
            "device_id": self.settings.device_id,
            "stage": self.pipeline.stage.value,
            "muted": fe.muted,
            "volume": self.sink.volume,
            "wake_words": self.wake.names,
            "sensitivity": round(1 - threshold, 3),
            "capture": {
                "available": fe.capture_available,
                "device": fe.capture_message,
                "dropped_frames": getattr(fe.source, "dropped", 0) if fe.source else 0,
                "wake_duty": round(self.wake.duty, 3),
            },
            "uptime_s": round(time.time() - self.started_at, 1),
            "turns": len(self.pipeline.history),
            "last_turn": None
            if last is None
            else {
                "transcript": last.transcript,
                "reply": last.reply,
                "outcome": last.outcome,
                "timings": last.timings(),
            },
            "models": {
                "wake": self.wake.names,
                "stt": self.settings.stt.model
                if self.settings.stt.engine == "whisper"
                else self.settings.stt.vosk_model,
                "llm": self.settings.llm.model,
                "tts": self.settings.tts.voice,
            },
            "loops": self.supervisor.status(),
            "mqtt": self.mqtt.status() if self.mqtt is not None else None,
            "healthy": self.healthy(),
            "memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "threads": threading.active_count(),
            "pid": os.getpid(),
        }


def _log_event(event: Event) -> None:
    data = event.as_dict()
    data.pop("ts", None)
    name = data.pop("event")
    if isinstance(event, ErrorRaised):
        _LOGGER.warning("event %s %s", name, data)
    elif name in ("wake", "transcript", "reply", "turn", "capture", "mute", "volume", "wake_word"):
        _LOGGER.info("event %s %s", name, data)
    else:
        _LOGGER.debug("event %s %s", name, data)


def report_startup_error(err: ApplianceError) -> str:
    """One line for the log/terminal when start-up fails."""
    return f"cannot start: {err.message} [{err.code}]"
