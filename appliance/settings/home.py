"""One home device reachable over MQTT (``[[mqtt.devices]]``): names, place, payloads, brightness."""

from __future__ import annotations

import json
from dataclasses import dataclass

from appliance.settings.spec import setting

BRIGHTNESS = "{brightness}"
"""The placeholder in ``brightness_payload`` that becomes the level on the device's scale."""
TOPIC_KEYS = ("command_topic", "state_topic", "brightness_command_topic", "brightness_state_topic")


@dataclass(frozen=True)
class HomeDevice:
    """One switchable (and maybe dimmable) thing in the house, reachable over MQTT (``[[mqtt.devices]]``)."""

    name: str = setting("", "What people call it: 'kitchen light'. Required.")
    command_topic: str = setting("", "Topic its on/off payloads go to. Required; no wildcards.")
    aliases: tuple[str, ...] = setting((), "Other names: ['ceiling light', 'big light'].")
    area: str = setting("", "Room it is in: 'kitchen' ('turn on the light in the kitchen').")
    floor: str = setting("", "Floor or zone it is on, said like an area: 'downstairs' ('lights off downstairs').")
    kind: str = setting("light", "What it is.", choices=("light", "switch", "fan", "outlet", "heater", "other"))
    payload_on: str = setting("ON", "Payload that switches it on.")
    payload_off: str = setting("OFF", "Payload that switches it off.")
    state_topic: str = setting(
        "", "Optional topic it reports its state on: payload_on/payload_off, or JSON with a 'state' field."
    )
    retain: bool = setting(False, "Publish its commands retained.")
    brightness_command_topic: str = setting(
        "", "Topic brightness commands go to (may be command_topic); empty = it cannot be dimmed."
    )
    brightness_payload: str = setting(
        BRIGHTNESS,
        "Brightness payload template: {brightness} becomes the level on brightness_scale "
        "('{\"brightness\": {brightness}}' for Zigbee2MQTT). A JSON template must render to valid JSON.",
    )
    brightness_scale: int = setting(100, "The device's level for full brightness: 100 (percent), 254 or 255.", min=1)
    brightness_state_topic: str = setting(
        "",
        "Optional topic it reports its brightness on (may be state_topic): a number on brightness_scale, "
        "or JSON with a 'brightness' field.",
    )

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name is required")
        for key in TOPIC_KEYS:
            topic = getattr(self, key)
            if (key == "command_topic" and not topic) or any(ch in topic for ch in "#+\0"):
                raise ValueError(f"{key} = {topic!r} is not allowed: a topic without wildcards is required")
        self._check_brightness()

    def _check_brightness(self) -> None:
        template = self.brightness_payload
        if BRIGHTNESS not in template:
            raise ValueError(f"brightness_payload = {template!r} is not allowed: it must contain {BRIGHTNESS}")
        if template != BRIGHTNESS and not self.brightness_command_topic:
            raise ValueError(
                f"brightness_payload = {template!r} is not allowed without brightness_command_topic: "
                "set the topic brightness commands go to"
            )
        rendered = self.brightness_command(self.brightness_scale)
        if rendered.lstrip()[:1] in ("{", "["):
            try:
                json.loads(rendered)
            except ValueError as err:
                raise ValueError(
                    f"brightness_payload = {template!r} is not allowed: it renders to invalid JSON "
                    f"({rendered!r}: {err}); allowed: a plain template or one that renders to JSON"
                ) from None

    @property
    def dimmable(self) -> bool:
        return bool(self.brightness_command_topic)

    def brightness_command(self, level: int) -> str:
        """The payload that sets ``level`` (already on the device's scale)."""
        return self.brightness_payload.replace(BRIGHTNESS, str(level))

    def to_scale(self, percent: int) -> int:
        """0-100 percent as the device's level (at least 1 for any percent above 0)."""
        level = round(percent * self.brightness_scale / 100)
        return max(level, 1) if percent > 0 else 0

    def to_percent(self, level: float) -> int:
        """The device's level as 0-100 percent."""
        return max(0, min(100, round(level * 100 / self.brightness_scale)))
