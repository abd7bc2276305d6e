"""What each device last reported on its state topics, and what the appliance last set it to.

Pure bookkeeping, no I/O: :meth:`DeviceStates.receive` takes each message from a state
topic (retained ones arrive on every connect), :meth:`DeviceStates.commanded` records a
command that went out.  A report always wins over what was commanded.
"""

from __future__ import annotations

import json
import math
from typing import Any

from appliance.settings import HomeDevice

MAX_PAYLOAD = 8192
"""Longer state payloads are not parsed (a Zigbee2MQTT report is a few hundred bytes)."""


class DeviceStates:
    """On/off and brightness per device, from reports and commands."""

    def __init__(self, devices: tuple[HomeDevice, ...] | list[HomeDevice]) -> None:
        self._power_topics: dict[str, list[HomeDevice]] = {}
        self._level_topics: dict[str, list[HomeDevice]] = {}
        for device in devices:
            if device.state_topic:
                self._power_topics.setdefault(device.state_topic, []).append(device)
            if device.brightness_state_topic:
                self._level_topics.setdefault(device.brightness_state_topic, []).append(device)
        self._power: dict[str, bool] = {}
        """Device name -> on, as reported."""
        self._level: dict[str, int] = {}
        """Device name -> brightness, percent, as reported."""
        self._sent_power: dict[str, bool] = {}
        self._sent_level: dict[str, int] = {}
        """What the appliance last sent, for devices that do not report (and as a relative change's base)."""
        self._raw: dict[str, str] = {}
        """Device name -> its last state payload (for ``home.devices``)."""

    def topics(self) -> list[str]:
        """Every topic to follow."""
        return list(dict.fromkeys([*self._power_topics, *self._level_topics]))

    def receive(self, topic: str, payload: bytes) -> None:
        """A message on a state topic; an empty one (a cleared retained state) forgets the state."""
        if len(payload) > MAX_PAYLOAD:
            return
        text = payload.decode("utf-8", "replace").strip()
        fields = _json_object(text)
        for device in self._power_topics.get(topic, []):
            on = power(device, text, fields)
            self._raw[device.name] = text[:64]
            if on is None:
                self._power.pop(device.name, None)
            else:
                self._power[device.name] = on
        for device in self._level_topics.get(topic, []):
            level = _level(text, fields)
            if level is None:
                self._level.pop(device.name, None)
            else:
                self._level[device.name] = device.to_percent(level)

    def commanded(self, device: HomeDevice, *, on: bool, brightness: int | None = None) -> None:
        """A command went out: what a device that does not report is assumed to be."""
        self._sent_power[device.name] = on
        if brightness is not None:
            self._sent_level[device.name] = brightness

    def power(self, device: HomeDevice) -> bool | None:
        """On, off, or None when unknown: as reported, or as last sent to a device with no state topic."""
        return (self._power if device.state_topic else self._sent_power).get(device.name)

    def brightness(self, device: HomeDevice) -> int | None:
        """Percent, or None when unknown: as reported, or as last sent to a device that does not report it."""
        return (self._level if device.brightness_state_topic else self._sent_level).get(device.name)

    def raw(self, device: HomeDevice) -> str | None:
        """The last state payload, cut to 64 characters."""
        return self._raw.get(device.name) or None

    def base_for_step(self, device: HomeDevice) -> int | None:
        """The brightness a relative change starts from: the known level, 0 when known off, else None."""
        if self.power(device) is False:
            return 0
        level = self.brightness(device)
        return level if level is not None else self._sent_level.get(device.name)


def power(device: HomeDevice, text: str, fields: dict[str, Any] | None) -> bool | None:
    """The device's payloads, a JSON ``state`` field, or a plain ON/OFF; None when it says neither."""
    said: object = text
    if text not in (device.payload_on, device.payload_off) and fields is not None and "state" in fields:
        said = fields["state"]
    said = str(said).strip()
    if said == device.payload_on:
        return True
    if said == device.payload_off:
        return False
    lowered = said.lower()
    if lowered in ("on", "true", "open"):
        return True
    if lowered in ("off", "false", "closed"):
        return False
    return None


def _level(text: str, fields: dict[str, Any] | None) -> float | None:
    value: object = fields.get("brightness") if fields is not None else text
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
