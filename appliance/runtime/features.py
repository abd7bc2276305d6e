"""Which features the settings ask for, built in the order their intents are tried.

Part of the composition root: ``app.py`` calls :func:`build_features` once and
plugs each result in.  Optional features import their packages only when
enabled, so a box without a camera never loads the vision code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance.board.feature import BoardFeature
from appliance.core.feature import Feature
from appliance.engines.llm.router import LlmServerFeature

if TYPE_CHECKING:
    from appliance.runtime.app import Appliance
    from appliance.vision.camera import FrameSource


def build_features(
    app: Appliance,
    *,
    gpio: bool,
    frame_source_factory: Callable[[], FrameSource] | None,
    debug_hooks: bool,
    metrics: bool = False,
) -> list[Feature]:
    """Memory, MQTT, home control, vision, the board, metrics and debug hooks, as configured."""
    s, core, bus = app.core.settings, app.core, app.bus
    out: list[Feature] = []
    if s.skills.enabled:  # first: a timer or the time never reaches home control or the LLM
        out.append(build_skills(app))
    if s.memory.enabled and app.engines.embedder is not None:
        from appliance.memory.feature import MemoryFeature

        memory = MemoryFeature(s, app.engines, bus, core.registry, core.conversation)
        memory.on_forgotten.append(core.pipeline.forget_texts)
        out.append(memory)
    mqtt = None
    if s.mqtt.enabled:
        from appliance.integrations.mqtt.feature import MqttFeature

        def retained() -> dict[str, str]:
            return {k: v for feature in app.features for k, v in feature.retained().items()}

        mqtt = MqttFeature(
            s,
            bus,
            execute=app.commands.execute,
            snapshot=app.controller.status,
            retained=retained,
            llm_models=_llm_choices(app),
        )
        out.append(mqtt)
    if s.mqtt.devices:
        from appliance.home.feature import HomeFeature

        out.append(HomeFeature(s, bus, mqtt, model=CurrentLlm(app)))
    if s.vision.enabled:
        from appliance.vision.feature import VisionFeature

        def gate(allowed: bool) -> None:
            core.frontend.wake_enabled = allowed

        out.append(VisionFeature(s, bus, core.registry, set_wake_allowed=gate, source_factory=frame_source_factory))
    out.append(
        BoardFeature(app.profile, s.hardware, control=app.controller, commands=app.commands, bus=bus, open_gpio=gpio)
    )
    out.append(_model_swaps(app))
    out.append(LlmServerFeature(lambda: app.engines.llm))
    if metrics and s.metrics.listen:
        out.append(_metrics(app))
    if debug_hooks:
        from appliance.runtime.debug_hooks import DebugFeature

        out.append(DebugFeature(core.pipeline, core.frontend))
    return out


class ControlDevice:
    """The skills' device port ("volume up", "repeat that", "stop") over the ControlApi."""

    def __init__(self, app: Appliance) -> None:
        self.app = app

    def volume(self) -> int:
        return self.app.controller.volume

    def set_volume(self, level: int) -> None:
        self.app.controller.set_volume(level)

    async def stop(self) -> bool:
        """Drop queued audio; the request itself is the running turn, so it is not interrupted."""
        sink = self.app.core.sink
        playing = sink.queued_seconds() > 0
        sink.stop()
        return playing

    def last_reply(self) -> str:
        said = [r.reply for r in self.app.core.pipeline.history if r.reply and r.outcome == "answered"]
        return said[-1] if said else ""


def build_skills(app: Appliance) -> Feature:
    """Timers, alarms, reminders, clock, sums, units, lists: rings and speaks through the pipeline."""
    from appliance.skills.feature import SkillsFeature
    from appliance.skills.sound import alarm_tone

    s, pipeline = app.core.settings, app.core.pipeline

    async def ring(item: object, speech: str) -> None:
        tone = alarm_tone(pipeline.tts.sample_rate)
        await pipeline.alert(speech, tone, ring_s=s.skills.ring_s)

    async def announce(text: str) -> None:
        await pipeline.say(text)

    return SkillsFeature(
        s.skills, s.state_dir, ring=ring, announce=announce, publish=app.bus.publish, device=ControlDevice(app)
    )


def _metrics(app: Appliance) -> Feature:
    from appliance.models.swap.swapper import ModelSwapper
    from appliance.runtime.metrics import MetricsFeature, configured_models, manifest_identity

    core, swaps = app.core, app.controller.models

    def models() -> list[tuple[str, str, str]]:
        out = []
        for role, ref in configured_models(core.settings):
            if role != "wake" and isinstance(swaps, ModelSwapper):  # it knows the sha256 of a swapped-in path
                running = swaps.running(role)
                out.append((role, running.name, running.sha256))
            else:
                out.append(manifest_identity(core.registry, role, ref))
        return out

    return MetricsFeature(
        core.settings.metrics,
        app.bus,
        snapshot=app.controller.status,
        generation=lambda: getattr(core.pipeline.llm, "last", None),
        models=models,
    )


def _model_swaps(app: Appliance) -> Feature:
    """``models use|rollback|history``; a reload's changed models go through the same swap."""
    from appliance.models.swap.feature import ModelsFeature
    from appliance.models.swap.state import ModelState
    from appliance.models.swap.swapper import ModelSwapper

    core = app.core
    swapper = ModelSwapper(core, app.engines, ModelState.for_settings(core.settings), core.settings.models)
    app.controller.models = swapper
    return ModelsFeature(swapper)


def _llm_choices(app: Appliance) -> tuple[str, ...]:
    """Installed LLMs for Home Assistant's model select, only where ``models.use`` is allowed over MQTT.

    ``mqtt.allowed_commands`` is the MQTT allowlist's setting; without it the select is never announced.
    """
    if "models.use" not in getattr(app.core.settings.mqtt, "allowed_commands", ()):
        return ()
    registry = app.core.registry
    return tuple(n for n in registry.names("llm") if registry.status(n).state != "missing")


class CurrentLlm:
    """Home control's scoring model: whichever LLM runs now (a live swap replaces it)."""

    def __init__(self, app: Appliance) -> None:
        self.app = app

    def score_continuations(self, messages: list[Any], continuations: list[str]) -> list[float]:
        return self.app.engines.llm.score_continuations(messages, continuations)
