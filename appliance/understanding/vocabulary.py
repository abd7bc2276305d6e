"""The words a sentence's slots may take, from the appliance's own configuration and state.

Home Assistant's sentences name things through slot lists (``{name}``, ``{area}``,
``{floor}``, ``{timer_name}``); here they are filled from ``[[mqtt.devices]]`` and Home
Assistant's entities (names, aliases, areas, floors, and Home Assistant's area and floor
aliases, said as the area they name), the skills' lists and the running timers.  A :class:`Vocabulary`
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
    area_aliases: tuple[str, ...] = ()
    """Other names of its area (Home Assistant's area registry: "lounge" for the living room)."""
    floor_aliases: tuple[str, ...] = ()


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

    def area_words(self) -> list[tuple[str, str]]:
        """(what is said, the area): every area as itself, then each alias not already an area."""
        pairs = [(a, a) for a in self.areas] + [(x, d.area) for d in self.devices if d.area for x in d.area_aliases]
        return _first_said(pairs)

    def floor_words(self) -> list[tuple[str, str]]:
        """(what is said, the floor): every floor as itself, then each alias not already a floor."""
        pairs = [(f, f) for f in self.floors] + [(x, d.floor) for d in self.devices if d.floor for x in d.floor_aliases]
        return _first_said(pairs)


def device_words(devices: Iterable[NamedDevice]) -> tuple[DeviceWords, ...]:
    """The configured devices' names, aliases, areas, floors and domains."""
    return tuple(
        DeviceWords(
            name=d.name.strip().lower(),
            aliases=tuple(a.strip().lower() for a in d.aliases if a.strip()),
            area=d.area.strip().lower(),
            floor=str(getattr(d, "floor", "") or "").strip().lower(),
            domain=str(getattr(d, "domain", "") or KIND_DOMAINS.get(d.kind, "switch")),  # Home Assistant's own
            area_aliases=_lowered(getattr(d, "area_aliases", ())),
            floor_aliases=_lowered(getattr(d, "floor_aliases", ())),
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
        "area": TextSlotList.from_tuples(vocabulary.area_words(), allow_template=False, name="area"),
        "floor": TextSlotList.from_tuples(vocabulary.floor_words(), allow_template=False, name="floor"),
        "timer_name": text_list("timer_name", vocabulary.timers),
    }


def text_list(name: str, values: Iterable[str]) -> TextSlotList:
    """A slot list whose values are said as they are written."""
    return TextSlotList.from_tuples(((v, v) for v in values if v.strip()), allow_template=False, name=name)


def _lowered(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.strip().lower() for v in values if v.strip())


def _first_said(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each said text once, with the first value given for it (an area's own name beats another's alias)."""
    seen: dict[str, str] = {}
    for said, value in pairs:
        if said.strip():
            seen.setdefault(said, value)
    return list(seen.items())
