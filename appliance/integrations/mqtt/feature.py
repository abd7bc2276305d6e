"""The MQTT control plane as a feature: the bridge's connection, loops, status and liveness."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from appliance.core.feature import Feature, Loop
from appliance.engines.wake import BUILTIN
from appliance.integrations.mqtt.bridge import MqttBridge
from appliance.integrations.mqtt.discovery import DeviceInfo

if TYPE_CHECKING:
    from appliance.core.bus import Bus
    from appliance.integrations.mqtt.client import Inbound
    from appliance.integrations.mqtt.inbound import Execute
    from appliance.settings import Settings


class MqttFeature(Feature):
    """Joins the home broker in the background: a dead broker never holds up the voice loop."""

    name = "mqtt"

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        *,
        execute: Execute,
        snapshot: Callable[[], dict[str, Any]],
        retained: Callable[[], Mapping[str, str]] = dict,
        llm_models: tuple[str, ...] = (),
    ) -> None:
        camera = bool(getattr(getattr(settings, "vision", None), "enabled", False))  # [vision] may be absent
        info = DeviceInfo(
            settings.device_id,
            settings.device.name,
            tuple(BUILTIN),
            presence=camera,
            skills=settings.skills.enabled,
            llm_models=llm_models,
            rooms=settings.rooms.enabled,
        )
        self.bridge = MqttBridge(settings, bus=bus, execute=execute, snapshot=snapshot, info=info, retained=retained)

    def publish_device(self, topic: str, payload: str, retain: bool) -> bool:
        """Publish to a home device's command topic (home control)."""
        return self.bridge.publish_device(topic, payload, retain=retain)

    def listen(self, topic: str, handler: Callable[[Inbound], None]) -> None:
        """Messages on a topic shared with other appliances (rooms), to ``handler`` on the event loop."""
        self.bridge.listen(topic, handler)

    def publish_shared(self, topic: str, payload: bytes) -> bool:
        """Publish on a shared topic at once (QoS 0); False while disconnected."""
        return self.bridge.publish_shared(topic, payload)

    @property
    def connected(self) -> bool:
        return self.bridge.connected

    async def start(self) -> None:
        await self.bridge.start()

    def loops(self) -> Mapping[str, Loop]:
        return self.bridge.loops()

    def vital_loops(self) -> Sequence[str]:
        """The client's loops, not the broker: a broker outage must not restart the daemon."""
        return tuple(self.bridge.loops())

    def status(self) -> Mapping[str, Any]:
        return self.bridge.status()

    async def stop(self) -> None:
        await self.bridge.stop()
