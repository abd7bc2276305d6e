"""Home control as a feature: the switching intent and the ``home.devices`` command."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from appliance.core.feature import Feature
from appliance.home.control import HomeControl

if TYPE_CHECKING:
    from appliance.control.commands import Handler
    from appliance.core.bus import Bus
    from appliance.home.tools import ScoringModel
    from appliance.integrations.mqtt.feature import MqttFeature
    from appliance.settings import Settings
    from appliance.voice.reply import IntentMatcher


class HomeFeature(Feature):
    """Configured ``[[mqtt.devices]]``, switched by voice through the MQTT feature."""

    name = "home"

    def __init__(self, settings: Settings, bus: Bus, mqtt: MqttFeature | None, model: ScoringModel | None) -> None:
        self.devices = settings.mqtt.devices
        self.mqtt = mqtt
        self.control = HomeControl(self.devices, publish=self._publish, report=bus.publish, model=model)

    def _publish(self, topic: str, payload: str, retain: bool) -> bool:
        return self.mqtt is not None and self.mqtt.publish_device(topic, payload, retain)

    def intents(self) -> Sequence[IntentMatcher]:
        return (self.control,)

    def commands(self) -> Mapping[str, Handler]:
        return {"home.devices": self._devices}

    async def _devices(self, args: Mapping[str, Any]) -> dict[str, Any]:
        states = self.mqtt.device_states if self.mqtt is not None else {}
        return {
            "devices": [
                {"name": d.name, "area": d.area, "kind": d.kind, "state": states.get(d.state_topic)}
                for d in self.devices
            ]
        }
