"""Which features the settings ask for, built in the order their intents are tried.

Part of the composition root: ``app.py`` calls :func:`build_features` once with
the narrow :class:`~appliance.runtime.ports.FeaturePorts` and plugs each result
in; no feature gets the appliance or its core.  Optional features import their
packages only when enabled, so a box without a camera never loads the vision code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance.board.feature import BoardFeature
from appliance.core.feature import Feature
from appliance.engines.llm.router import LlmServerFeature

if TYPE_CHECKING:
    from appliance.control.api import ControlApi
    from appliance.engines.loader import Engines
    from appliance.integrations.home_assistant.feature import HomeAssistantFeature
    from appliance.integrations.mqtt.feature import MqttFeature
    from appliance.integrations.rooms.sharing import RoomTimers
    from appliance.models.registry import ModelRegistry
    from appliance.runtime.ports import Announcer, FeaturePorts, Playback, TurnHistory
    from appliance.settings import Settings
    from appliance.skills.feature import SkillsFeature
    from appliance.skills.voice import PeerPort
    from appliance.vision.camera import FrameSource


def build_features(
    ports: FeaturePorts,
    *,
    gpio: bool,
    frame_source_factory: Callable[[], FrameSource] | None,
    metrics: bool = False,
) -> list[Feature]:
    """Skills, memory, MQTT, home control, vision, the board, model swaps, the LLM server, metrics, Wyoming, ESPHome."""
    s, bus, engines = ports.settings, ports.bus, ports.engines
    out: list[Feature] = []
    mqtt = _mqtt(ports) if s.mqtt.enabled else None  # built first: the skills reach the other rooms through it
    room_timers = _room_timers(s, mqtt) if mqtt is not None and s.rooms.enabled else None
    skills = None
    if s.skills.enabled:  # first: a timer or the time never reaches home control or the LLM
        device = ControlDevice(ports.control, ports.playback, ports.turns)
        skills = build_skills(s, announcer=ports.announcer, device=device, publish=bus.publish, peers=room_timers)
        out.append(skills)
    if s.memory.enabled and engines.embedder is not None:
        from appliance.memory.feature import MemoryFeature

        memory = MemoryFeature(s, engines, bus, ports.registry, ports.conversation)
        memory.on_forgotten.append(ports.turns.forget_texts)
        out.append(memory)
    if mqtt is not None:
        out.append(mqtt)
        if room_timers is not None:
            from appliance.integrations.rooms.feature import RoomsFeature

            local = skills.skills if skills is not None else None
            out.append(RoomsFeature(s, bus, mqtt, timers=room_timers, local=local, speaker=ports.announcer))
    assistant = _home_assistant(s) if s.home_assistant.enabled else None
    if assistant is not None:
        out.append(assistant)
    if s.mqtt.devices or assistant is not None:
        from appliance.home.feature import HomeFeature

        home = HomeFeature(s, bus, mqtt, model=CurrentLlm(engines), assistant=assistant.link if assistant else None)
        if assistant is not None:  # Home Assistant's entities join the configured devices as they load
            assistant.follow(home.control.set_remote)
        out.append(home)
    if s.vision.enabled:
        from appliance.vision.feature import VisionFeature

        out.append(
            VisionFeature(
                s, bus, ports.registry, set_wake_allowed=ports.wake_gate.allow_wake, source_factory=frame_source_factory
            )
        )
    out.append(
        BoardFeature(ports.profile, s.hardware, control=ports.control, commands=ports.commands, bus=bus, open_gpio=gpio)
    )
    out.append(_model_swaps(ports))
    out.append(LlmServerFeature(lambda: engines.llm))
    if metrics and s.metrics.listen:
        out.append(_metrics(ports))
    if s.wyoming.enabled:
        from appliance.integrations.wyoming.feature import WyomingFeature

        control = ports.control
        out.append(
            WyomingFeature(
                ports.current_settings, engines, ports.registry.resolve, ask=lambda text: control.ask(text, speak=False)
            )
        )
    if s.esphome.enabled:
        from appliance.integrations.esphome.feature import EsphomeFeature

        out.append(
            EsphomeFeature(
                ports.current_settings,
                bus=bus,
                control=ports.control,
                announcer=ports.announcer,
                playback=ports.playback,
            )
        )
    if s.understanding.sentences:  # tried first: maintained sentences, acting through the features above
        out.insert(0, _understanding(s, out))
    if s.understanding.semantic:  # tried last, before the LLM: the intents above build what it places
        out.append(_semantic(s, engines, out))
    return out


def _semantic(settings: Settings, engines: Engines, features: list[Feature]) -> Feature:
    """The semantic layer on the memory's embedder (off without it); docs/understanding.md "Semantic layer"."""
    from appliance.home.devices import DeviceDirectory
    from appliance.home.feature import HomeFeature
    from appliance.understanding.semantic import SemanticFeature, SemanticIntents

    before = list(features)
    home = next((f.control for f in before if isinstance(f, HomeFeature)), None)
    semantic = SemanticIntents(
        engines.embedder,
        rules=lambda: [m for f in before for m in f.intents()],
        # home control's devices as they are now: Home Assistant's join them as its registries change
        devices=(lambda: home.directory) if home is not None else DeviceDirectory(settings.mqtt.devices),
        cache_dir=settings.state_dir,
    )
    return SemanticFeature(semantic, settings.understanding.language)


def _home_assistant(settings: Settings) -> HomeAssistantFeature:
    """The home's devices from Home Assistant's WebSocket API (docs/home_assistant.md)."""
    from appliance.integrations.home_assistant.feature import HomeAssistantFeature

    return HomeAssistantFeature(settings)


def _understanding(settings: Settings, features: list[Feature]) -> Feature:
    """Home Assistant's sentences, acting through the skills' and home control's own actions (docs/understanding.md)."""
    from appliance.home.feature import HomeFeature
    from appliance.skills.feature import SkillsFeature
    from appliance.understanding.feature import UnderstandingFeature

    skills = next((f.voice for f in features if isinstance(f, SkillsFeature)), None)
    home = next((f.control for f in features if isinstance(f, HomeFeature)), None)
    broadcast = None
    if settings.mqtt.enabled and settings.rooms.enabled:
        from appliance.integrations.rooms.feature import RoomsFeature

        broadcast = next((f.broadcast for f in features if isinstance(f, RoomsFeature)), None)
    if home is None or home.remote is None:
        return UnderstandingFeature(settings, skills=skills, home=home, broadcast=broadcast)
    control = home  # with Home Assistant: its agent, and its entities in the slot lists as they load
    feature = UnderstandingFeature(
        settings,
        skills=skills,
        home=home,
        broadcast=broadcast,
        delegate=home.delegate,
        remote=lambda: control.remote_devices,
    )
    home.on_devices.append(feature.matcher.set_devices)
    return feature


def _mqtt(ports: FeaturePorts) -> MqttFeature:
    """State, events and commands over the broker; Home Assistant discovery."""
    from appliance.integrations.mqtt.feature import MqttFeature
    from appliance.models.swap.feature import for_remote

    s, features = ports.settings, ports.features

    def retained() -> dict[str, str]:
        return {k: v for feature in features for k, v in feature.retained().items()}

    return MqttFeature(
        s,
        ports.bus,
        execute=for_remote(ports.commands.execute),  # one code for every model a swap refuses
        snapshot=ports.control.status,
        retained=retained,
        llm_models=_llm_choices(s, ports.registry),
    )


def _room_timers(settings: Settings, mqtt: MqttFeature) -> RoomTimers:
    """The other rooms' timers: the skills list and cancel them, the rooms feature keeps them current."""
    from appliance.integrations.rooms.sharing import RoomTimers
    from appliance.integrations.rooms.wire import GroupTopics

    topics = GroupTopics.of(settings.mqtt.base_topic, settings.rooms.group)
    return RoomTimers(settings.device_id, topics, mqtt)


class ControlDevice:
    """The skills' device port ("volume up", "repeat that", "stop") over the ControlApi."""

    def __init__(self, control: ControlApi, playback: Playback, turns: TurnHistory) -> None:
        self.control = control
        self.playback = playback
        self.turns = turns

    def volume(self) -> int:
        return self.control.volume

    def set_volume(self, level: int) -> None:
        self.control.set_volume(level)

    async def stop(self) -> bool:
        """Drop queued audio; the request itself is the running turn, so it is not interrupted."""
        playing = self.playback.queued_seconds() > 0
        self.playback.stop()
        return playing

    def last_reply(self) -> str:
        said = [r.reply for r in self.turns.history if r.reply and r.outcome == "answered"]
        return said[-1] if said else ""


def build_skills(
    settings: Settings,
    *,
    announcer: Announcer,
    device: ControlDevice,
    publish: Callable[[Any], None],
    peers: PeerPort | None = None,
) -> SkillsFeature:
    """Timers, alarms, reminders, clock, sums, units, lists: rings and speaks through the pipeline."""
    from appliance.skills.feature import SkillsFeature
    from appliance.skills.sound import alarm_tone

    s = settings

    async def ring(item: object, text: str) -> None:
        tone = alarm_tone(announcer.tts.sample_rate)
        await announcer.alert(text, tone, ring_s=s.skills.ring_s)

    async def announce(text: str) -> None:
        await announcer.say(text)

    return SkillsFeature(
        s.skills, s.state_dir, ring=ring, announce=announce, publish=publish, device=device, peers=peers
    )


def _metrics(ports: FeaturePorts) -> Feature:
    from appliance.runtime.metrics import MetricsFeature, configured_models, manifest_identity

    swaps, registry, current = ports.swaps, ports.registry, ports.running_llm

    def models() -> list[tuple[str, str, str]]:
        out = []
        for role, ref in configured_models(ports.current_settings()):
            if role != "wake":  # the swapper knows the sha256 of a swapped-in path
                running = swaps.running(role)
                out.append((role, running.name, running.sha256))
            else:
                out.append(manifest_identity(registry, role, ref))
        return out

    return MetricsFeature(
        ports.settings.metrics,
        ports.bus,
        snapshot=ports.control.status,
        generation=lambda: current.llm.last,
        models=models,
    )


def _model_swaps(ports: FeaturePorts) -> Feature:
    """``models use|rollback|history``; the controller sends a reload's changed models through the same swapper."""
    from appliance.models.swap.feature import ModelsFeature

    return ModelsFeature(ports.swaps)


def _llm_choices(settings: Settings, registry: ModelRegistry) -> tuple[str, ...]:
    """Installed LLMs for Home Assistant's model select, only where ``models.use`` is allowed over MQTT.

    ``mqtt.allowed_commands`` is the MQTT allowlist's setting; without it the select is never announced.
    """
    if "models.use" not in getattr(settings.mqtt, "allowed_commands", ()):
        return ()
    return tuple(n for n in registry.names("llm") if registry.status(n).state != "missing")


class CurrentLlm:
    """Home control's scoring model: whichever LLM runs now (a live swap replaces it)."""

    def __init__(self, engines: Engines) -> None:
        self.engines = engines

    def score_continuations(self, messages: list[Any], continuations: list[str]) -> list[float]:
        return self.engines.llm.score_continuations(messages, continuations)
