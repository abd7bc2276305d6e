"""Devices that live in Home Assistant, and what home control needs of the link to it.

An entity Home Assistant exposes to Assist (and ``home_assistant.expose`` allows)
becomes a :class:`HaDevice`: a :class:`~appliance.settings.HomeDevice` with no
topics, named, placed and resolved like the configured MQTT devices, but acted on
through :class:`Assistant` (``appliance.integrations.home_assistant``), which
carries out service calls, keeps the states and asks Home Assistant's own agent.
What is said about them is here too: the verb of each domain ("I locked the front
door.") and its states ("The garage door is open.").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from appliance.core.errors import ApplianceError
from appliance.settings import HomeDevice

UNREACHABLE = "I can't reach Home Assistant right now."
SWITCHED = frozenset({"light", "switch", "fan", "input_boolean"})
"""Domains switched on and off (and, with an area or "all", in groups)."""
ACTED = SWITCHED | {"cover", "lock", "scene", "script"}
"""Domains the appliance acts on itself; the rest are read (sensors) or left to Home Assistant's agent."""
READ = frozenset({"sensor", "binary_sensor"})
KIND_OF_DOMAIN = {
    "light": "light",
    "fan": "fan",
    "switch": "switch",
    "input_boolean": "switch",
    "cover": "cover",
    "lock": "lock",
    "scene": "scene",
    "script": "script",
}
"""Home Assistant's domain -> :attr:`HomeDevice.kind`; any other domain is its own kind."""
DONE = {
    ("cover", "on"): "opened",
    ("cover", "off"): "closed",
    ("lock", "on"): "locked",
    ("lock", "off"): "unlocked",
    ("scene", "on"): "activated",
    ("script", "on"): "started",
}
"""The verb said once Home Assistant confirmed the call; on/off devices are "turned on/off"."""
BINARY = {
    "door": ("open", "closed"),
    "garage_door": ("open", "closed"),
    "opening": ("open", "closed"),
    "window": ("open", "closed"),
    "lock": ("unlocked", "locked"),
    "motion": ("detecting motion", "not detecting motion"),
    "occupancy": ("occupied", "clear"),
    "presence": ("home", "away"),
}
"""A binary sensor's device class -> how its on and off are said."""


class HomeAssistantError(ApplianceError):
    """A service call or a conversation Home Assistant did not carry out (``ha-unreachable``, ``ha-refused``, …)."""


@dataclass(frozen=True)
class HaDevice(HomeDevice):
    """One entity of Home Assistant, exposed to Assist and allowed by ``home_assistant.expose``."""

    entity_id: str = ""
    domain: str = ""
    device_class: str = ""
    can_dim: bool = False
    """A light whose colour modes include brightness."""
    area_aliases: tuple[str, ...] = ()
    """Other names of its area in Home Assistant's area registry ("lounge" for the living room)."""
    floor_aliases: tuple[str, ...] = ()
    """Other names of its area's floor ("ground floor" for downstairs)."""

    def __post_init__(self) -> None:  # no topics to check: it is reached through Home Assistant
        if not self.name.strip() or "." not in self.entity_id:
            raise ValueError(f"an entity needs a name and an entity id, got {self.name!r} / {self.entity_id!r}")

    @property
    def dimmable(self) -> bool:
        return self.can_dim

    @property
    def acted(self) -> bool:
        """Acted on by the appliance itself (else read, or left to Home Assistant's agent)."""
        return self.domain in ACTED


@dataclass(frozen=True)
class Reading:
    """An entity's state as Home Assistant last reported it."""

    state: str
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.state not in ("unknown", "unavailable", "")

    @property
    def brightness(self) -> int | None:
        """Percent, from the 0-255 ``brightness`` attribute of a light that is on."""
        value = self.attributes.get("brightness")
        if self.state != "on" or isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return max(1, min(100, round(value * 100 / 255)))


class Assistant(Protocol):
    """The link to Home Assistant as home control uses it."""

    @property
    def connected(self) -> bool: ...

    def reading(self, entity_id: str) -> Reading | None:
        """The last state reported, or None when none is known."""
        ...

    async def act(self, device: HaDevice, action: str, brightness: int | None = None) -> None:
        """Carry out ``action`` (on, off, brightness); returns once Home Assistant confirmed it, else raises
        :class:`HomeAssistantError`."""
        ...

    async def converse(self, text: str) -> str:
        """Home Assistant's agent's spoken answer to ``text``; :class:`HomeAssistantError` when it cannot be asked."""
        ...

    def withheld(self, text: str) -> str:
        """The name of an entity ``text`` mentions that is not exposed (or not allowed), or ""."""
        ...


def done(device: HaDevice, action: str, level: int | None = None) -> str:
    """What was done, as part of a sentence: "opened the garage door", "set the desk lamp to 30 percent"."""
    if action == "brightness" and level:
        return f"set the {device.name} to {level} percent"
    if action == "brightness":
        action = "off"
    verb = DONE.get((device.domain, action), f"turned {action}")
    return f"{verb} the {device.name}" if device.domain not in ("scene", "script") else f"{verb} {device.name}"


def joined(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}"


def said_state(device: HaDevice, reading: Reading | None) -> str:
    """ "The garage door is open.", "The front door is locked.", "The living room temperature is 21.5 °C." """
    if reading is None or not reading.known:
        return f"I don't know the state of the {device.name}: Home Assistant has not reported it."
    state = reading.state
    if device.domain == "sensor":
        unit = str(reading.attributes.get("unit_of_measurement") or "")
        return f"The {device.name} is {_number(state)}{_unit(unit)}."
    if device.domain == "binary_sensor" and state in ("on", "off"):
        on, off = BINARY.get(device.device_class, ("on", "off"))
        return f"The {device.name} is {on if state == 'on' else off}."
    word = state.replace("_", " ")
    if device.domain in ("scene", "script"):
        return f"{device.name[:1].upper()}{device.name[1:]} is {'running' if state == 'on' else 'not running'}."
    level = reading.brightness if device.can_dim else None
    return f"The {device.name} is {word}" + (f", at {level} percent." if level else ".")


def _number(state: str) -> str:
    try:
        value = float(state)
    except ValueError:
        return state
    return str(int(value)) if value.is_integer() else f"{value:.1f}".rstrip("0").rstrip(".")


def _unit(unit: str) -> str:
    if unit in ("°C", "°F"):
        return f" degrees {'Celsius' if unit == '°C' else 'Fahrenheit'}"
    if unit == "%":
        return " percent"
    return f" {unit}" if unit else ""
