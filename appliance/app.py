"""Composition root: build the engines and components, run the supervised loops, stop in order.

This is the only module that wires things together and the only one that
starts long-running tasks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import resource
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, debug
from .audio.sink import AudioSink
from .audio.source import AudioSource
from .bus import Bus
from .commands import Commands
from .control import ControlServer
from .conversation import Conversation
from .errors import ApplianceError, ConfigError, HardwareError
from .events import CaptureStatus, ErrorRaised, Event, MuteChanged, StageChanged, WakeWordChanged
from .frontend import FrontEnd, FrontEndEvent
from .gpio import BoardControls, open_board
from .hardware import BoardProfile, load_profile
from .home import HomeControl
from .liveness import Heartbeat, Liveness, audio_alive
from .llm import LlamaLlm
from .memory.admin import MemoryAdmin
from .memory.embedding import MiniLmEmbedder, load_embedder
from .memory.emotion import EmotionAnalyzer
from .memory.intents import MemoryIntents
from .memory.service import Memory
from .memory.wiring import build_memory, record_events, retention_loop, start_memory, turn_row
from .models import ModelRegistry
from .mqtt import DeviceInfo, MqttBridge
from .pipeline import Pipeline
from .settings import Settings, load_settings
from .stt import SttEngine
from .stt.factory import load_stt
from .supervisor import Supervisor
from .systemd import Notifier, status_line, watchdog_interval
from .tts import PiperTts
from .vad import SpeechDetector
from .vad import load_detector as load_speech_detector
from .wake import BUILTIN, WakeWordDetector, load_models, wake_rules
from .wake import load_detector as load_wake_detector

if TYPE_CHECKING:
    from .vision import VisionService
    from .vision.camera import FrameSource

_LOGGER = logging.getLogger(__name__)

EXIT_RESTART = 75
"""Exit status that asks systemd (RestartForceExitStatus=75) to start the daemon again."""

LIVENESS_INTERVAL_S = 5.0
"""How often loops are checked when systemd asks for no watchdog (status and health-check still use it)."""
AUDIO_OPEN_WAIT_S = 10.0
"""READY=1 waits this long at most for the first attempt to open the microphone."""


@dataclass
class Engines:
    """Every loaded model, ready to use."""

    wake: WakeWordDetector
    speech: SpeechDetector
    stt: SttEngine
    llm: LlamaLlm
    tts: PiperTts
    load_s: dict[str, float]
    embedder: MiniLmEmbedder | None = None
    """The memory's sentence-embedding model (None when memory is off)."""
    emotion: EmotionAnalyzer | None = None


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
    return Engines(wake, speech, stt, llm, tts, times, embedder, emotion)


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
        profile: BoardProfile | None = None,
        gpio: bool = False,
        frame_source_factory: Callable[[], FrameSource] | None = None,
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
        self._threshold_override: float | None = None
        """Threshold from a sensitivity command, for every word until the next reload."""
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
        self.memory: Memory | None = None
        if engines.embedder is not None and settings.memory.enabled:
            self.memory = build_memory(settings, engines.embedder, engines.emotion, engines.llm.count_tokens, self.bus)
        self.pipeline = Pipeline(
            settings=settings,
            frontend=self.frontend,
            stt=engines.stt,
            llm=engines.llm,
            tts=engines.tts,
            sink=sink,
            bus=self.bus,
            conversation=self.memory or self.conversation,
        )
        self.commands = Commands(self)
        if self.memory is not None:
            self.pipeline.intents.append(MemoryIntents(self.memory))
            self.pipeline.on_utterance.append(self.memory.observe_utterance)
            self.pipeline.on_turn_finished.append(self._record_turn)
            for name, handler in MemoryAdmin(self.memory, settings.state_dir).handlers().items():
                self.commands.register(name, handler)
        self.mqtt = self._build_mqtt() if settings.mqtt.enabled else None
        self._mqtt_loops: list[str] = []
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
        self.profile = profile or load_profile(settings.hardware.profile, gpio_override=settings.hardware.gpio)
        self.board: BoardControls | None = None
        self._want_gpio = gpio
        """Only the daemon opens the buttons and LEDs: converse and bench must not take its pins."""
        self.liveness = Liveness()
        self.pipeline_beat = Heartbeat(timeout_s=2 * LIVENESS_INTERVAL_S)
        self.last_errors: deque[dict[str, Any]] = deque(maxlen=5)
        self.vision: VisionService | None = None
        if settings.vision.enabled:
            self._build_vision(frame_source_factory)

    def _build_vision(self, source_factory: Callable[[], FrameSource] | None) -> None:
        """The optional camera pipeline: commands, "what do you see?", presence in the LLM's context."""
        from .vision import build_service
        from .vision.commands import SceneIntent, register_commands

        vision = build_service(self.settings.vision, self.bus, self.registry.resolve, source_factory)
        register_commands(self.commands, vision, self.settings.state_dir)
        self.pipeline.intents.append(SceneIntent(vision))
        self.conversation.context.append(vision.summary)
        vision.on_change.append(self._apply_wake_gate)
        self.vision = vision
        self._vision_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vision")
        self._apply_wake_gate()

    def _apply_wake_gate(self) -> None:
        """vision.wake_requires_presence: wake words count only while someone is seen (any thread)."""
        if self.vision is not None:
            self.frontend.wake_enabled = self.vision.wake_allowed()

    def presence_summary(self) -> str | None:
        """Read-only: one sentence about who is in the room, or None without vision (for context builders)."""
        return self.vision.summary() if self.vision is not None else None

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
        debug.register(self)
        if self._want_gpio:
            self._open_board()
        if self.mqtt is not None:  # connects in the background: a dead broker never holds up the voice loop
            await self.mqtt.start()
            for name, loop_factory in self.mqtt.loops().items():
                sup.start(name, loop_factory)
                self._mqtt_loops.append(name)
        sup.start("events-log", self._log_events)
        await self._start_memory()
        sup.start("pipeline", self.pipeline.run)
        with self.bus.subscribe(CaptureStatus, maxsize=4, name="first-capture") as first_capture:
            sup.start("audio", self._audio_loop)
            if self.vision is not None:
                sup.start("vision", self._vision_loop)
            if self.control is not None:
                await self.control.start()
                sup.start("control", self._serve_control)
            if self.board is not None:
                sup.start("leds", self.board.run_leds)
            self._watch_loops()
            # READY=1 means "models loaded and the microphone opened (or found missing)".
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(first_capture.get(), timeout=AUDIO_OPEN_WAIT_S)
        self.notifier.ready(self._status_text())
        _LOGGER.info("Ready: listening for %s", ", ".join(self.wake.names))
        if on_ready is not None:
            on_ready()
        try:
            await self._stop.wait()
        finally:
            await self._shutdown()
        return self.exit_code

    async def _start_memory(self) -> None:
        memory = self.memory
        if memory is None:
            return
        try:
            await start_memory(memory, self.settings, self.registry)
        except ApplianceError as err:
            _LOGGER.error("Memory disabled: %s", err.message)
            self.bus.publish(ErrorRaised(code=err.code, message=err.message, stage="memory"))
            self._disable_memory()
            return
        self.supervisor.start("memory-events", lambda: record_events(memory, self.bus))
        self.supervisor.start("memory-retention", lambda: retention_loop(memory))

    def _disable_memory(self) -> None:
        """Carry on without memory: the plain running conversation, no memory intents."""
        memory, self.memory = self.memory, None
        self.pipeline.conversation = self.conversation
        self.pipeline.intents = [i for i in self.pipeline.intents if not isinstance(i, MemoryIntents)]
        if memory is not None and self._record_turn in self.pipeline.on_turn_finished:
            self.pipeline.on_turn_finished.remove(self._record_turn)
            self.pipeline.on_utterance.remove(memory.observe_utterance)

    def _record_turn(self, record: Any) -> None:
        row = turn_row(record)
        if self.memory is not None and row is not None:
            self.memory.record_turn(row, record.turn_id)

    async def _audio_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._audio_pool, self.frontend.run)
        finally:
            self.frontend.stop()

    async def _vision_loop(self) -> None:
        assert self.vision is not None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._vision_pool, self.vision.run)

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
                if isinstance(event, ErrorRaised):
                    self.last_errors.append({"ts": round(event.ts, 3), "code": event.code, "message": event.message})
                if isinstance(event, (StageChanged, MuteChanged, CaptureStatus)):
                    self.notifier.status(self._status_text())

    def _open_board(self) -> None:
        """Buttons and LEDs from the board profile; without them the voice loop still runs."""
        try:
            self.board = open_board(self.profile, self.settings.hardware, self)
            if self.board is not None:
                self.board.start(asyncio.get_running_loop())
                _LOGGER.info("Board %s: GPIO through %s", self.profile.name, self.profile.gpio)
        except HardwareError as err:
            _LOGGER.error("No buttons or LEDs: %s [%s]", err.message, err.code)
            self.bus.publish(ErrorRaised(code=err.code, message=err.message, stage="hardware"))
            self.board = None

    def _watch_loops(self) -> None:
        """Register the vital loops and start the loop that checks them (and feeds systemd's watchdog)."""
        interval = watchdog_interval()
        check_every = min(interval, LIVENESS_INTERVAL_S) if interval else LIVENESS_INTERVAL_S
        self.pipeline_beat.timeout_s = max(2 * check_every, 2.0)
        self.liveness.add("pipeline", self._pipeline_alive)
        self.liveness.add("audio", self._audio_alive)
        if self._mqtt_loops:  # the client's loops, not the broker: a broker outage must not restart us
            self.liveness.add("mqtt", lambda: all(self.supervisor.alive(name) for name in self._mqtt_loops))
        self.supervisor.start("liveness", lambda: self._liveness_loop(check_every, feed=interval is not None))

    async def _liveness_loop(self, every_s: float, *, feed: bool) -> None:
        """Feed systemd's watchdog only while every vital loop proves it is alive."""
        reported: list[str] = []
        while True:
            failing = self.liveness.failing()
            if not failing and feed:
                self.notifier.watchdog()
            if failing != reported:
                if failing:
                    _LOGGER.error("Not responding: %s (the watchdog is no longer fed)", ", ".join(failing))
                reported = failing
                self.notifier.status(self._status_text())
            now = time.monotonic()
            if self.pipeline_beat.due(self.pipeline.ping_answered):
                self.pipeline.frontend_event(FrontEndEvent("ping", 0.0, self.pipeline_beat.send(now)))
            await asyncio.sleep(every_s)

    def _pipeline_alive(self) -> bool:
        answered = self.pipeline.ping_answered
        return self.supervisor.alive("pipeline") and self.pipeline_beat.alive(answered, time.monotonic())

    def _audio_alive(self) -> bool:
        fe, now = self.frontend, time.monotonic()
        if fe.input_ended:
            return True  # --input FILE has been played to its end: nothing is stuck
        return audio_alive(
            running=self.supervisor.alive("audio"),
            heartbeat_age_s=now - fe.heartbeat_mono,
            retry_s=fe.retry_s,
            capturing=fe.capture_available and not fe.muted,
            frame_age_s=now - fe.last_frame_mono,
        )

    def healthy(self) -> bool:
        """True while every vital loop (audio, pipeline, and whatever else registered) is alive."""
        return not self.liveness.failing()

    def _status_text(self) -> str:
        return status_line(
            stage=self.pipeline.stage.value,
            muted=self.frontend.muted,
            capture=self.frontend.capture_available,
            wake_words=list(self.wake.names),
            failing=self.liveness.failing(),
        )

    @property
    def muted(self) -> bool:
        return self.frontend.muted

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
        await self.supervisor.stop_one("liveness")  # loops ending now are not failures to report
        self.frontend.stop()
        if self.vision is not None:
            self.vision.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pipeline.interrupt(), timeout=3.0)
        if self.control is not None:
            await self.control.close()
        if self.mqtt is not None:
            await self.mqtt.stop()
        await self.supervisor.stop()
        await asyncio.to_thread(self._audio_pool.shutdown, True)  # the audio thread has left its loop
        if self.board is not None:
            self.board.close()
        if self.vision is not None:
            await asyncio.to_thread(self._vision_pool.shutdown, True)
        if self.memory is not None:
            await asyncio.to_thread(self.memory.close)  # queued writes are finished first
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
        self.wake.set_models(models)
        if self._threshold_override is not None:  # a sensitivity command outlives a change of word
            self.wake.set_threshold(self._threshold_override)
        self.settings = replace(self.settings, wake=wake_settings)
        self.pipeline._wake_words = names
        self.bus.publish(WakeWordChanged(models=names, sensitivity=self.sensitivity))

    @property
    def sensitivity(self) -> float:
        """1 - the (first) wake word's threshold: what the sensitivity command and entity show."""
        return round(1 - (self.wake.models[0].decider.rule.threshold if self.wake.models else 0.5), 3)

    def set_sensitivity(self, value: float) -> None:
        """Every active wake word gets threshold 1 - value, over per-word tuning, until a reload."""
        self._threshold_override = round(1.0 - value, 3)
        self.wake.set_threshold(self._threshold_override)
        self.bus.publish(WakeWordChanged(models=tuple(self.wake.names), sensitivity=self.sensitivity))

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file and apply what can change live."""
        if self.config_path is None:
            raise ConfigError("config-none", "the daemon was started without --config; nothing to reload")
        new = load_settings(self.config_path)
        applied: list[str] = []
        restart: list[str] = []
        for section in (f.name for f in dataclasses.fields(Settings)):
            if getattr(new, section) != getattr(self.settings, section):
                (applied if section in ("wake", "vad", "llm", "audio") else restart).append(section)
        if "wake" in applied:
            self._threshold_override = None  # the file's thresholds win again
            models_changed = new.wake.models != self.settings.wake.models
            self.settings = replace(self.settings, wake=new.wake)
            if models_changed:
                await self.set_wake_words(new.wake.models)
            else:
                self.wake.set_rules(wake_rules(new.wake))
        if "vad" in applied:
            self.frontend.vad = new.vad
        if "llm" in applied:
            self.engines.llm.settings = new.llm
            self.conversation.system_prompt = new.llm.system_prompt
            if self.memory is not None:
                self.memory.system_prompt = new.llm.system_prompt
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
        return {
            "version": __version__,
            "device_id": self.settings.device_id,
            "stage": self.pipeline.stage.value,
            "muted": fe.muted,
            "volume": self.sink.volume,
            "wake_words": self.wake.names,
            "sensitivity": self.sensitivity,
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
            "vision": self._vision_status(),
            "memory": self.memory_status(),
            "loops": self.supervisor.status(),
            "mqtt": self.mqtt.status() if self.mqtt is not None else None,
            "healthy": self.healthy(),
            "failing": self.liveness.failing(),
            "last_errors": list(self.last_errors),
            "hardware": self.board.status() if self.board else {"profile": self.profile.name, "gpio": "none"},
            "memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "threads": threading.active_count(),
            "pid": os.getpid(),
        }

    def _vision_status(self) -> dict[str, Any]:
        if self.vision is None:
            return {"enabled": False}
        from .vision.commands import status

        return {"enabled": True, **status(self.vision)}

    def memory_status(self) -> dict[str, Any] | None:
        memory = self.memory
        if memory is None:
            return None
        store = memory.store
        return {
            "path": str(store.path),
            "vectors": len(memory.index),
            "writes": store.written,
            "pending_writes": store.pending,
            "dropped_writes": store.dropped,
            "quarantined": str(store.quarantined) if store.quarantined else None,
        }


_INFO_EVENTS = frozenset(
    {"wake", "transcript", "reply", "turn", "capture", "mute", "volume", "wake_word", "presence", "camera", "emotion"}
)


def _log_event(event: Event) -> None:
    data = event.as_dict()
    data.pop("ts", None)
    name = data.pop("event")
    if isinstance(event, ErrorRaised):
        _LOGGER.warning("event %s %s", name, data)
    elif name in _INFO_EVENTS:
        _LOGGER.info("event %s %s", name, data)
    else:
        _LOGGER.debug("event %s %s", name, data)


def report_startup_error(err: ApplianceError) -> str:
    """One line for the log/terminal when start-up fails."""
    return f"cannot start: {err.message} [{err.code}]"
