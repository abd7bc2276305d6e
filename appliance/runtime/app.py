"""Composition root: build the voice loop and the features from settings, run their loops, stop in order.

This is the only module that wires things together and the only one that
starts long-running tasks.  Every object is built with what it needs: the
sink's reports, the inbox, the echo canceller, the front end, the
conversation and the pipeline (:func:`build_core`), then the model swapper,
the controller and the command layer, then the features
(:func:`~appliance.runtime.features.build_features`, each given narrow
:mod:`~appliance.runtime.ports`, never the appliance).  Features (memory, MQTT,
home control, vision, the board, debug hooks) contribute their parts through
:class:`~appliance.core.feature.Feature`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from appliance.audio import echo
from appliance.audio.sink import AudioSink
from appliance.audio.source import AudioSource
from appliance.board.feature import BoardFeature
from appliance.board.profiles import BoardProfile, load_profile
from appliance.control.authorization import socket_policy
from appliance.control.commands import Commands
from appliance.control.controller import Controller, Core
from appliance.control.local_socket import ControlServer
from appliance.core.bus import Bus
from appliance.core.errors import ApplianceError
from appliance.core.events import CaptureStatus, ErrorRaised
from appliance.core.feature import Feature
from appliance.engines.loader import Engines, load_engines
from appliance.models.registry import ModelRegistry
from appliance.runtime import debug_hooks as debug
from appliance.runtime.eventlog import log_events
from appliance.runtime.features import build_features
from appliance.runtime.liveness import (
    Liveness,
    Watchdog,
    frontend_alive,
    loops_alive,
)
from appliance.runtime.ports import FeatureArbiter, FeaturePorts
from appliance.runtime.supervisor import Supervisor
from appliance.runtime.systemd import Notifier, status_line, watchdog_interval
from appliance.settings import Settings
from appliance.voice.arbiter import WakeArbiter
from appliance.voice.conversation import Conversation
from appliance.voice.frontend import FrontEnd
from appliance.voice.inbox import Inbox
from appliance.voice.messages import LivenessPing
from appliance.voice.pipeline import Pipeline

if TYPE_CHECKING:
    from appliance.board.gpio import BoardControls
    from appliance.integrations.mqtt.bridge import MqttBridge
    from appliance.models.swap.swapper import ModelSwapper
    from appliance.vision import VisionService
    from appliance.vision.camera import FrameSource

__all__ = ["EXIT_RESTART", "Appliance", "Engines", "build_core", "load_engines", "report_startup_error"]

_LOGGER = logging.getLogger(__name__)
F = TypeVar("F", bound=Feature)

EXIT_RESTART = 75
"""Exit status that asks systemd (RestartForceExitStatus=75) to start the daemon again."""
LIVENESS_INTERVAL_S = 5.0
"""How often loops are checked when systemd asks for no watchdog (status and health-check still use it)."""
AUDIO_OPEN_WAIT_S = 10.0
"""READY=1 waits this long at most for the first attempt to open the microphone."""


class Appliance:
    """The running daemon: the voice loop, the features, the command layer, supervision."""

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
        metrics: bool = False,
    ) -> None:
        self.engines = engines
        self.notifier = notifier or Notifier()
        self.bus = Bus()
        self.supervisor = Supervisor()
        self.exit_code = 0
        self._stop = asyncio.Event()
        self.features: list[Feature] = []
        """Filled once every feature is built; the pipeline, the controller and MQTT read it from then on."""
        self.core = core = build_core(
            settings,
            engines,
            registry=registry,
            bus=self.bus,
            sink=sink,
            source_factory=source_factory,
            arbiter=FeatureArbiter(self.features),
        )
        pipeline = core.pipeline
        swaps = build_swapper(core, engines)
        self.controller = Controller(
            core,
            self.features,
            config_path=config_path,
            request_restart=self.request_restart,
            health=self._health,
            models=swaps,
        )
        self.commands = Commands(self.controller)
        self.profile = profile or load_profile(settings.hardware.profile, gpio_override=settings.hardware.gpio)
        ports = FeaturePorts(
            settings=settings,
            current_settings=lambda: core.settings,
            bus=self.bus,
            registry=registry,
            engines=engines,
            conversation=core.conversation,
            announcer=pipeline,
            turns=pipeline,
            running_llm=pipeline,
            wake_gate=core.frontend,
            playback=sink,
            control=self.controller,
            commands=self.commands,
            swaps=swaps,
            features=self.features,
            profile=self.profile,
        )
        self.features.extend(
            build_features(ports, gpio=gpio, frame_source_factory=frame_source_factory, metrics=metrics)
        )
        if debug.enabled():  # wedges the real loops, so it alone gets the pipeline and the front end
            self.features.append(debug.DebugFeature(pipeline, core.frontend))
        for feature in self.features:
            self._plug(feature)
        self.control = (
            ControlServer(
                settings.socket_path,
                self.commands,
                socket_policy(settings.control.allowed_commands),
                idle_timeout_s=settings.control.idle_timeout_s,
                max_clients=settings.control.max_clients,
            )
            if control and settings.control.enabled
            else None
        )
        self._audio_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="audio")
        self.liveness = Liveness()
        self.watchdog = Watchdog(
            self.liveness,
            notify=self.notifier.watchdog,
            report=lambda failing: self.notifier.status(self._status_text()),
            ping=lambda mono: pipeline.post(LivenessPing(0.0, mono)),
            answered=lambda: pipeline.ping_answered,
        )

    # -- composition ------------------------------------------------------------------
    def _plug(self, feature: Feature) -> None:
        """Collect one feature's parts: intents, commands, guards, context, turn hooks, conversation."""
        pipeline = self.core.pipeline
        pipeline.intents.extend(feature.intents())
        for name, handler in feature.commands().items():
            self.commands.register(name, handler)
        for name, guard in feature.guards().items():
            self.commands.add_guard(name, guard)
        self.core.conversation.context.extend(feature.context())
        pipeline.on_utterance.append(feature.on_utterance)
        pipeline.on_turn_finished.append(feature.on_turn_finished)
        source = feature.conversation()
        if source is not None:
            pipeline.conversation = source

    def feature(self, kind: type[F]) -> F | None:
        """The running feature of that class, if the settings asked for one."""
        return next((f for f in self.features if isinstance(f, kind)), None)

    # -- running ------------------------------------------------------------------------
    async def run(self, *, on_ready: Callable[[], None] | None = None) -> int:
        """Run until SIGTERM/SIGINT, :meth:`stop` or a restart request; returns the exit code."""
        self.bus.bind(asyncio.get_running_loop())
        self._install_signals()
        sup = self.supervisor
        sup.start("events-log", lambda: log_events(self.bus, self.controller.last_errors, self._status_changed))
        for feature in self.features:  # MQTT connects in the background: a dead broker never holds us up
            await feature.start()
        sup.start("pipeline", self.core.pipeline.run)
        with self.bus.subscribe(CaptureStatus, maxsize=4, name="first-capture") as first_capture:
            sup.start("audio", self._audio_loop)
            for feature in self.features:
                for name, loop in feature.loops().items():
                    sup.start(name, loop)
            if self.control is not None:
                await self.control.start()
                sup.start("control", self.control.serve_forever)
            self._watch_loops()
            # READY=1 means "models loaded and the microphone opened (or found missing)".
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(first_capture.get(), timeout=AUDIO_OPEN_WAIT_S)
        self.notifier.ready(self._status_text())
        _LOGGER.info("Ready: listening for %s", ", ".join(self.core.wake.names))
        if on_ready is not None:
            on_ready()
        try:
            await self._stop.wait()
        finally:
            await self._shutdown()
        return self.exit_code

    async def _audio_loop(self) -> None:
        frontend = self.core.frontend
        try:
            await asyncio.get_running_loop().run_in_executor(self._audio_pool, frontend.run)
        finally:
            frontend.stop()

    def _watch_loops(self) -> None:
        """Register the vital loops and start the loop that checks them (and feeds systemd's watchdog)."""
        interval = watchdog_interval()
        every = min(interval, LIVENESS_INTERVAL_S) if interval else LIVENESS_INTERVAL_S
        sup = self.supervisor
        self.liveness.add("pipeline", lambda: self.watchdog.pipeline_alive(sup.alive("pipeline"), time.monotonic()))
        self.liveness.add("audio", lambda: frontend_alive(self.core.frontend, running=sup.alive("audio")))
        for feature in self.features:
            vital = tuple(feature.vital_loops())
            if vital:
                self.liveness.add(feature.name, loops_alive(sup, vital))
        sup.start("liveness", lambda: self.watchdog.run(every, feed=interval is not None))

    def healthy(self) -> bool:
        """True while every vital loop (audio, pipeline, and whatever else registered) is alive."""
        return not self.liveness.failing()

    def _health(self) -> dict[str, Any]:
        failing = self.liveness.failing()
        return {"loops": self.supervisor.status(), "healthy": not failing, "failing": failing}

    def _status_changed(self) -> None:
        self.notifier.status(self._status_text())

    def _status_text(self) -> str:
        core = self.core
        return status_line(
            stage=core.pipeline.stage.value,
            muted=core.frontend.muted,
            capture=core.frontend.capture_available,
            wake_words=list(core.wake.names),
            failing=self.liveness.failing(),
        )

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
        """Stop in order: the watchdog, the microphone, the turn, the socket, then each feature's loops and parts."""
        _LOGGER.info("Stopping")
        self.notifier.stopping()
        sup = self.supervisor
        await sup.stop_one("liveness")  # loops ending now are not failures to report
        self.core.frontend.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.core.pipeline.interrupt(), timeout=3.0)
        if self.control is not None:
            await self.control.close()
        for feature in reversed(self.features):
            for name in feature.loops():
                await sup.stop_one(name)
            await feature.stop()
        await sup.stop()
        await asyncio.to_thread(self._audio_pool.shutdown, True)  # the audio thread has left its loop
        self.core.sink.close()

    # -- views for commands, tests and benchmarks -------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def pipeline(self) -> Pipeline:
        return self.core.pipeline

    @property
    def frontend(self) -> FrontEnd:
        return self.core.frontend

    @property
    def sink(self) -> AudioSink:
        return self.core.sink

    @property
    def conversation(self) -> Conversation:
        return self.core.conversation

    def status(self) -> dict[str, Any]:
        return self.controller.status()

    async def reload(self) -> dict[str, Any]:
        return await self.controller.reload()

    @property
    def mqtt(self) -> MqttBridge | None:
        from appliance.integrations.mqtt.feature import MqttFeature

        found = self.feature(MqttFeature)
        return found.bridge if found is not None else None

    @property
    def vision(self) -> VisionService | None:
        from appliance.vision.feature import VisionFeature

        found = self.feature(VisionFeature)
        return found.service if found is not None else None

    @property
    def board(self) -> BoardControls | None:
        found = self.feature(BoardFeature)
        return found.board if found is not None else None


def build_core(
    settings: Settings,
    engines: Engines,
    *,
    registry: ModelRegistry,
    bus: Bus,
    sink: AudioSink,
    source_factory: Callable[[], AudioSource],
    arbiter: WakeArbiter | None = None,
) -> Core:
    """The voice loop on the loaded engines: the inbox and the echo canceller first, then the front end
    posting into that inbox, the running conversation, and the pipeline taking from the inbox."""
    audio, llm = settings.audio, settings.llm
    sink.volume = audio.volume
    sink.on_error = lambda code, message: bus.publish_threadsafe(
        ErrorRaised(code=code, message=message, stage="playback")
    )
    inbox = Inbox()
    canceller = echo.canceller_for(sink, aec=audio.aec, noise_suppression=audio.noise_suppression, agc=audio.agc)
    speculative = engines.stt.supports_speculation
    frontend = FrontEnd(
        source_factory,
        engines.wake,
        engines.speech,
        settings.vad,
        inbox.post_threadsafe,
        preroll_s=audio.preroll_s,
        retry_s=audio.retry_s,
        turn=engines.turn,
        stream_capture=not speculative,  # a streaming engine transcribes the request as it is said
        confirm_ends=speculative,  # the speculative transcript checks early ends
        echo=canceller,
        echo_for=echo.sources_to_cancel(audio.aec, sink),
    )
    conversation = Conversation(llm.system_prompt, max_turns=llm.history_turns, timeout_s=llm.history_timeout_s)
    pipeline = Pipeline(
        settings=settings,
        frontend=frontend,
        inbox=inbox,
        stt=engines.stt,
        llm=engines.llm,
        tts=engines.tts,
        sink=sink,
        bus=bus,
        conversation=conversation,
        arbiter=arbiter,
    )
    return Core(settings, bus, registry, frontend, engines.wake, engines.llm, conversation, pipeline, sink)


def build_swapper(core: Core, engines: Engines) -> ModelSwapper:
    """Live model swaps on the core's parts (imported here: a swap's checks are not start-up's cost)."""
    from appliance.models.swap.state import ModelState
    from appliance.models.swap.swapper import ModelSwapper

    return ModelSwapper(core, engines, ModelState.for_settings(core.settings), core.settings.models)


def report_startup_error(err: ApplianceError) -> str:
    """One line for the log/terminal when start-up fails."""
    return f"cannot start: {err.message} [{err.code}]"
