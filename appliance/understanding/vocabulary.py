"""The words a sentence's slots may take, from the appliance's own configuration and state.

Home Assistant's sentences name things through slot lists (``{name}``, ``{area}``,
``{floor}``, ``{timer_name}``); here they are filled from ``[[mqtt.devices]]`` (names,
aliases, areas, floors), the skills' lists and the running timers.  A :class:`Vocabulary`
is a frozen value: the matcher rebuilds hassil's lists only when a new one differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hassil.intents import SlotList, TextSlotList

KIND_DOMAINS: Mapping[str, str] = {
    "light": "light",
    "fan": "fan",
    "switch": "switch",
    "outlet": "switch",
    "heater": "switch",
    "other": "switch",
}
"""A configured device's ``kind`` as the Home Assistant domain its sentences ask for."""
LIST_DOMAIN = "todo"
"""The domain Home Assistant's list sentences require of a ``{name}``."""


class NamedDevice(Protocol):
    """What a vocabulary needs of a device (``settings.HomeDevice`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def aliases(self) -> tuple[str, ...]: ...
    @property
    def area(self) -> str: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class DeviceWords:
    """One device as its sentences may name it."""

    name: str
    aliases: tuple[str, ...] = ()
    area: str = ""
    floor: str = ""
    domain: str = "light"


@dataclass(frozen=True)
class Vocabulary:
    """Everything a request may name: devices, areas, floors, lists and timers."""

    devices: tuple[DeviceWords, ...] = ()
    lists: tuple[tuple[str, str], ...] = ()
    """(what is said, the list's key): ("groceries", "shopping")."""
    timers: tuple[str, ...] = ()
    """Names of the timers running now."""
    extra_areas: tuple[str, ...] = ()
    """Areas with no device (this appliance's own ``rooms.area``)."""

    @property
    def areas(self) -> tuple[str, ...]:
        found = [d.area for d in self.devices] + list(self.extra_areas)
        return tuple(dict.fromkeys(a.strip().lower() for a in found if a.strip()))

    @property
    def floors(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.floor.strip().lower() for d in self.devices if d.floor.strip()))


def device_words(devices: Iterable[NamedDevice]) -> tuple[DeviceWords, ...]:
    """The configured devices' names, aliases, areas, floors and domains."""
    return tuple(
        DeviceWords(
            name=d.name.strip().lower(),
            aliases=tuple(a.strip().lower() for a in d.aliases if a.strip()),
            area=d.area.strip().lower(),
            floor=str(getattr(d, "floor", "") or "").strip().lower(),
            domain=KIND_DOMAINS.get(d.kind, "switch"),
        )
        for d in devices
        if d.name.strip()
    )


def list_words(aliases: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Every way to name a list ('groceries' → shopping), from the skills' alias table."""
    said = dict(aliases)
    said.update({key: key for key in aliases.values()})
    return tuple(sorted(said.items()))


def slot_lists(vocabulary: Vocabulary) -> dict[str, SlotList]:
    """hassil's slot lists for ``vocabulary`` (plain text values, never templates)."""
    names: list[tuple[str, Any, dict[str, Any]]] = []
    for device in vocabulary.devices:
        for said in (device.name, *device.aliases):
            names.append((said, device.name, {"domain": device.domain}))
    names += [(said, key, {"domain": LIST_DOMAIN}) for said, key in vocabulary.lists]
    return {
        "name": TextSlotList.from_tuples(names, allow_template=False, name="name"),
        "area": text_list("area", vocabulary.areas),
        "floor": text_list("floor", vocabulary.floors),
        "timer_name": text_list("timer_name", vocabulary.timers),
    }


def text_list(name: str, values: Iterable[str]) -> TextSlotList:
    """A slot list whose values are said as they are written."""
    return TextSlotList.from_tuples(((v, v) for v in values if v.strip()), allow_template=False, name=name)
