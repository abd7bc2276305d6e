"""Home Assistant's registries and states as the appliance's devices: pure, no I/O.

An entity becomes a :class:`~appliance.home.assistant.HaDevice` only when Home
Assistant exposes it to Assist (the ``conversation`` assistant in
``homeassistant/expose_entity/list``) and ``home_assistant.expose`` allows its
domain and its area. Its name is the one set in the entity registry, else its
``friendly_name``; its aliases are the registry's; its area is its own or its
device's; its floor is that area's, and the area's and floor's aliases come along
("lounge" for the living room). Every other entity's name is kept as
*withheld*: a request naming one is refused, never passed on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.home.assistant import KIND_OF_DOMAIN, HaDevice, Reading
from appliance.home.phrases import normalize

ASSISTANT = "conversation"
"""The assistant id Home Assistant's Expose page uses for Assist."""
DIMMABLE_MODES = frozenset({"brightness", "color_temp", "hs", "rgb", "rgbw", "rgbww", "xy", "white"})
"""A light in any of these colour modes takes ``brightness_pct``."""
PASSIVE = frozenset({"sensor", "binary_sensor", "person", "zone", "sun", "weather", "device_tracker", "update"})
PASSIVE |= {"event", "conversation", "tts", "stt", "wake_word", "todo", "calendar", "image", "assist_satellite"}
"""Domains that cannot be switched: their names are not withheld (a request that names "John" switches nothing)."""
MAX_NAME = 80
"""Longer names are cut (they become sentence slot values)."""


@dataclass(frozen=True)
class Registries:
    """What one load reads from Home Assistant (each a list of its JSON objects)."""

    states: Sequence[Mapping[str, Any]] = ()
    entities: Sequence[Mapping[str, Any]] = ()
    devices: Sequence[Mapping[str, Any]] = ()
    areas: Sequence[Mapping[str, Any]] = ()
    floors: Sequence[Mapping[str, Any]] = ()
    exposed: Mapping[str, Any] = field(default_factory=dict)
    """``homeassistant/expose_entity/list``'s ``exposed_entities``: entity id -> {assistant: true}."""
    aliases: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Entity id -> its registry aliases (``config/entity_registry/get_entries``)."""


@dataclass(frozen=True)
class Home:
    """The devices the appliance may use, and the names of the entities it may not."""

    devices: tuple[HaDevice, ...] = ()
    withheld: tuple[str, ...] = ()
    known: int = 0
    """Entities Home Assistant reported."""
    exposed: int = 0
    """Of those, exposed to Assist (before ``home_assistant.expose``)."""


def is_exposed(exposed: Mapping[str, Any], entity_id: str) -> bool:
    """Whether Home Assistant exposes ``entity_id`` to Assist."""
    settings = exposed.get(entity_id)
    return isinstance(settings, Mapping) and settings.get(ASSISTANT) is True


def build(reg: Registries, domains: Iterable[str], areas: Iterable[str] = ()) -> Home:
    """The usable devices of ``reg``: exposed to Assist, of an allowed domain and (when any are listed) area."""
    allowed, places = frozenset(domains), frozenset(a.strip().lower() for a in areas)
    entries = {str(e.get("entity_id")): e for e in reg.entities if isinstance(e, Mapping)}
    device_area = {str(d.get("id")): d.get("area_id") for d in reg.devices if isinstance(d, Mapping)}
    area_rows = {str(a.get("area_id")): a for a in reg.areas if isinstance(a, Mapping)}
    floor_rows = {str(f.get("floor_id")): f for f in reg.floors if isinstance(f, Mapping)}
    usable: list[HaDevice] = []
    withheld: list[str] = []
    known = exposed = 0
    for state in reg.states:
        entity_id = str(state.get("entity_id", "")) if isinstance(state, Mapping) else ""
        domain = entity_id.partition(".")[0]
        if "." not in entity_id:
            continue
        known += 1
        entry: Mapping[str, Any] = entries.get(entity_id, {})
        attributes = _mapping(state.get("attributes"))
        name = _text(entry.get("name")) or _text(attributes.get("friendly_name")) or entity_id.split(".", 1)[1]
        name = " ".join(name.replace("_", " ").split())[:MAX_NAME]
        area_id = entry.get("area_id") or device_area.get(str(entry.get("device_id")))
        area_row = area_rows.get(str(area_id)) if area_id else None
        area = _text(area_row.get("name")) if area_row else ""
        floor_row = floor_rows.get(str(area_row.get("floor_id"))) if area_row else None
        floor = _text(floor_row.get("name")) if floor_row else ""
        area_aliases = aliases_of(area_row.get("aliases")) if area_row else ()
        shown = is_exposed(reg.exposed, entity_id)
        exposed += shown
        placed = not places or bool(places & {area.lower(), *(a.lower() for a in area_aliases)})
        if not shown or domain not in allowed or not placed or entry.get("disabled_by"):
            if domain not in PASSIVE:
                withheld.append(name)
            continue
        device_class = _text(attributes.get("device_class") or entry.get("device_class"))
        usable.append(
            HaDevice(
                name=name,
                aliases=aliases_of(reg.aliases.get(entity_id, ())),
                area=area,
                floor=floor,
                area_aliases=area_aliases,
                floor_aliases=aliases_of(floor_row.get("aliases")) if floor_row else (),
                kind=kind(domain, device_class),
                entity_id=entity_id,
                domain=domain,
                device_class=device_class,
                can_dim=domain == "light" and dimmable(attributes),
            )
        )
    names = {n.lower() for d in usable for n in (d.name, *d.aliases)}
    kept = tuple(dict.fromkeys(n for n in withheld if n.lower() not in names and len(n) > 2))
    return Home(tuple(usable), kept, known, exposed)


def aliases_of(values: object) -> tuple[str, ...]:
    """A registry's ``aliases`` (a list of strings; anything else is none), trimmed and cut to :data:`MAX_NAME`."""
    if not isinstance(values, (list, tuple)):
        return ()
    return tuple(dict.fromkeys(a for a in (_text(x)[:MAX_NAME] for x in values) if a))


def withheld(home: Home, text: str) -> str:
    """The first withheld name ``text`` says, unless it says it as part of a usable one ("garage door" of
    "is the garage door open" beside a hidden helper called "garage door open")."""
    said = f" {normalize(text)} "
    usable = [n for d in home.devices for n in (d.name, *d.aliases) if f" {normalize(n)} " in said]
    for name in home.withheld:
        key = normalize(name)
        if f" {key} " in said and not any(normalize(n) in key for n in usable):
            return name
    return ""


def kind(domain: str, device_class: str = "") -> str:
    """The device's kind: its domain's, or for a sensor what it measures ("temperature")."""
    if domain == "switch" and device_class == "outlet":
        return "outlet"
    if domain == "sensor" and device_class in ("temperature", "humidity"):
        return device_class
    return KIND_OF_DOMAIN.get(domain, domain)


def dimmable(attributes: Mapping[str, Any]) -> bool:
    """A light that takes a brightness: one of its colour modes is dimmable."""
    modes = attributes.get("supported_color_modes")
    if isinstance(modes, list):
        return bool(DIMMABLE_MODES.intersection(str(m) for m in modes))
    return "brightness" in attributes


def reading(state: Mapping[str, Any]) -> Reading | None:
    """One entry of ``get_states`` or a ``state_changed`` event's ``new_state``."""
    value = state.get("state")
    if not isinstance(value, str):
        return None
    return Reading(value[:255], _mapping(state.get("attributes")))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
