"""Home control as a feature: the home intents, the devices' state topics and the ``home.devices`` command."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from appliance.core.feature import Feature
from appliance.home.control import HomeControl

if TYPE_CHECKING:
    from appliance.control.commands import Handler
    from appliance.core.bus import Bus
    from appliance.home.assistant import Assistant, HaDevice
    from appliance.home.tools import ScoringModel
    from appliance.integrations.mqtt.client import Inbound
    from appliance.integrations.mqtt.feature import MqttFeature
    from appliance.settings import Settings
    from appliance.voice.reply import IntentMatcher


class HomeFeature(Feature):
    """Configured ``[[mqtt.devices]]``, switched, dimmed and asked about by voice through the MQTT feature."""

    name = "home"

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        mqtt: MqttFeature | None,
        model: ScoringModel | None,
        assistant: Assistant | None = None,
    ) -> None:
        """``assistant``: the link to Home Assistant, whose entities join the configured devices."""
        self.devices = settings.mqtt.devices
        self.mqtt = mqtt
        self.control = HomeControl(
            self.devices,
            publish=self._publish,
            report=bus.publish,
            model=model,
            here=settings.rooms.area,
            assistant=assistant,
        )
        if mqtt is not None:  # retained states arrive on every (re)connect
            for topic in self.control.states.topics():
                mqtt.listen(topic, self._on_state)

    def _publish(self, topic: str, payload: str, retain: bool) -> bool:
        return self.mqtt is not None and self.mqtt.publish_device(topic, payload, retain)

    def _on_state(self, message: Inbound) -> None:
        self.control.states.receive(message.topic, message.payload)

    def intents(self) -> Sequence[IntentMatcher]:
        return (self.control,)

    def commands(self) -> Mapping[str, Handler]:
        return {"home.devices": self._devices}

    async def _devices(self, args: Mapping[str, Any]) -> dict[str, Any]:
        states = self.control.states
        return {
            "devices": [
                {
                    "name": d.name,
                    "area": d.area,
                    "kind": d.kind,
                    "state": states.raw(d),
                    "on": states.power(d),
                    "brightness": states.brightness(d) if d.dimmable else None,
                }
                for d in self.devices
            ]
            + [self._remote(d) for d in self.control.remote_devices]
        }

    def _remote(self, device: HaDevice) -> dict[str, Any]:
        """One of Home Assistant's, with the state it last reported."""
        remote = self.control.remote
        reading = remote.assistant.reading(device.entity_id) if remote is not None else None
        return {
            "name": device.name,
            "area": device.area,
            "kind": device.kind,
            "entity_id": device.entity_id,
            "state": reading.state if reading is not None else None,
            "on": None if reading is None or reading.state not in ("on", "off") else reading.state == "on",
            "brightness": reading.brightness if reading is not None and device.dimmable else None,
        }
