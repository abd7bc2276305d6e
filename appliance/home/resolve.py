"""Which devices a :class:`~appliance.home.request.HomeRequest` means; never a guess.

The rules, in order:

1. A device named exactly (its name or an alias, plural or not) is the one meant, even when
   other names come close ("kitchen light" beside "play corner lights" in the kitchen).
2. Words that are an area, a kind, or both ("the bedroom", "lights", "downstairs lights")
   mean every device of that kind there; an area alone means its lights, or everything in it
   when it has no light.
3. Anything else is matched fuzzily against names, aliases and area + kind
   (:mod:`.devices`); two close matches are asked back.

An area is a device's ``area`` or ``floor``, or one of their aliases in Home Assistant's
area and floor registries ("lounge" for the living room); :data:`~appliance.home.request.HERE` ("in here",
"this room") is the appliance's own ``rooms.area``, and "the house", "home" mean everywhere.
A kind said without an area prefers the devices in the appliance's own area.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from appliance.home.assistant import HaDevice
from appliance.home.devices import DeviceDirectory
from appliance.home.phrases import DETERMINERS, SwitchRequest, normalize
from appliance.home.request import HERE, HomeRequest
from appliance.home.speech import where
from appliance.settings import HomeDevice

KINDS = {
    **dict.fromkeys(("light", "lights", "lamp", "lamps", "bulb", "bulbs", "lighting"), "light"),
    **dict.fromkeys(("fan", "fans"), "fan"),
    **dict.fromkeys(("switch", "switches"), "switch"),
    **dict.fromkeys(("outlet", "outlets", "plug", "plugs", "socket", "sockets"), "outlet"),
    **dict.fromkeys(("heater", "heaters", "heating", "radiator", "radiators"), "heater"),
    **dict.fromkeys(("cover", "covers", "blind", "blinds", "shade", "shades", "curtain", "curtains"), "cover"),
    **dict.fromkeys(("shutter", "shutters", "awning", "awnings"), "cover"),
    **dict.fromkeys(("lock", "locks"), "lock"),
    **dict.fromkeys(("temperature", "temperatures"), "temperature"),
    **dict.fromkeys(("humidity",), "humidity"),
}
"""Words for a kind of device (and Home Assistant's domains) -> ``HomeDevice.kind``."""
GROUPED = frozenset({"light", "switch", "fan", "outlet", "heater", "other"})
"""Kinds an area or "everything" may switch together: never a lock, a cover, a scene or a sensor by accident."""
HOME_WORDS = frozenset({"home", "house", "whole house", "everywhere", "apartment", "flat", "whole home"})
"""Areas that mean the whole home: no area at all."""
HERE_WORDS = frozenset({HERE, "in here", "this room", "room", "this area"})
"""What is left of "in here", "in this room" once determiners are dropped."""
AREA_MATCH = 0.85
"""Lowest similarity for a misheard area ("bed room")."""


@dataclass(frozen=True)
class Target:
    """What a request resolved to: devices to act on, candidates to ask about, or why neither."""

    devices: tuple[HomeDevice, ...] = ()
    ambiguous: tuple[HomeDevice, ...] = ()
    """Equally good candidates: asked back, nothing done."""
    area: str = ""
    """The area said (as configured), "" if none."""
    unknown: str = ""
    """Why nothing matched, as a sentence to say ("I don't know a device called garage light.")."""


def name_key(text: str) -> str:
    """A name compared exactly: lower case, determiners dropped, plural "s" dropped."""
    words = [w for w in normalize(text).split() if w not in DETERMINERS]
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words)


class Resolver:
    """The configured devices, their names, areas and floors, and the appliance's own area."""

    def __init__(self, devices: tuple[HomeDevice, ...] | list[HomeDevice], *, here: str = "") -> None:
        self.devices = list(devices)
        self.directory = DeviceDirectory(self.devices)
        self.here = here.strip()
        self._names: dict[str, list[HomeDevice]] = {}
        for device in self.devices:
            for name in dict.fromkeys(name_key(n) for n in (device.name, *device.aliases)):
                if name:
                    self._names.setdefault(name, []).append(device)
        self._areas: dict[str, str] = {}
        """Normalised area or floor -> as configured."""
        for place in [d.area for d in self.devices] + [d.floor for d in self.devices] + [self.here]:
            if place.strip():
                self._areas.setdefault(normalize(place), place.strip())
        for device in self.devices:  # Home Assistant's other names for them ("lounge"), after every real one
            for alias, place in place_aliases(device):
                self._areas.setdefault(normalize(alias), place.strip())

    def names(self) -> list[str]:
        """Every device name and alias, as configured."""
        return list(dict.fromkeys(n.strip() for d in self.devices for n in (d.name, *d.aliases) if n.strip()))

    def areas(self) -> list[str]:
        """Every area and floor, as configured (an alias is not another area)."""
        return list(dict.fromkeys(self._areas.values()))

    def resolve(self, request: HomeRequest) -> Target:
        area, unknown = self._area(request.area)
        if unknown:
            return Target(unknown=unknown)
        pool = [d for d in self.devices if _in(d, area)] if area else self.devices
        name = normalize(request.name or "")
        if name:
            return self._named(request, name, area, pool)
        return self._kind(request, KINDS.get(name_key(request.domain or "") or "", ""), area, pool)

    def _area(self, spoken: str | None) -> tuple[str, str]:
        """(area as configured or "", why it is unknown or "")."""
        words = " ".join(w for w in normalize(spoken or "").split() if w not in DETERMINERS)
        if not words or words in HOME_WORDS:
            return "", ""
        if words in HERE_WORDS:
            if not self.here:
                return "", "I don't know which room I'm in. Set rooms.area in my configuration."
            return self.here, ""
        known = self._place(words)
        return (known, "") if known else ("", f"I don't know an area called {words}.")

    def _place(self, words: str) -> str:
        if words in self._areas:
            return self._areas[words]
        scored = sorted(((SequenceMatcher(None, words, a).ratio(), a) for a in self._areas), reverse=True)
        if scored and scored[0][0] >= AREA_MATCH and (len(scored) == 1 or scored[1][0] < scored[0][0]):
            return self._areas[scored[0][1]]
        return ""

    def _named(self, request: HomeRequest, name: str, area: str, pool: list[HomeDevice]) -> Target:
        exact = self._names.get(name_key(name), [])
        if exact:
            chosen = [d for d in exact if d in pool] or exact
            if len(chosen) > 1 and not request.every:
                return Target(ambiguous=tuple(chosen), area=area)
            return Target(tuple(chosen), area=area)
        parts = [p for p in name.replace(" and ", ",").split(",") if p.strip()]
        if len(parts) > 1:  # "the kitchen light and the porch light"
            return self._several(request, parts)
        split = self._area_and_kind(name)
        if split is not None:
            said_area, kind = split
            if said_area and area and said_area != area:
                return Target(unknown=f"I don't know a device called {name}{where(area)}.")
            more = replace(request, name=None, area=said_area or request.area, domain=kind or request.domain)
            return self.resolve(more)
        found = self.directory.resolve(SwitchRequest("on", name, normalize(area)))
        if found.devices:
            return Target(tuple(found.devices), area=area)
        if found.ambiguous:
            return Target(ambiguous=tuple(found.ambiguous), area=area)
        return Target(unknown=f"I don't know a device called {name}{where(area)}.")

    def _several(self, request: HomeRequest, parts: list[str]) -> Target:
        found: list[HomeDevice] = []
        for part in parts:
            target = self.resolve(replace(request, name=part.strip()))
            if not target.devices:
                return target
            found += [d for d in target.devices if d not in found]
        return Target(tuple(found))

    def _area_and_kind(self, name: str) -> tuple[str, str] | None:
        """ "bedroom", "lights", "downstairs lights", "lights downstairs": (area, kind word), or None."""
        words = [w for w in name.split() if w not in DETERMINERS and w not in ("all", "every", "the", "of", "in")]
        kinds = [w for w in words if w in KINDS]
        rest = " ".join(w for w in words if w not in KINDS)
        if len(kinds) > 1 or not words:
            return None
        kind = kinds[0] if kinds else ""
        if not rest:
            return ("", kind) if kind else None
        if rest in HERE_WORDS or rest in HOME_WORDS:
            return rest, kind
        area = self._place(rest)
        return (area, kind) if area else None

    def _kind(self, request: HomeRequest, kind: str, area: str, pool: list[HomeDevice]) -> Target:
        if kind:
            candidates = [d for d in pool if d.kind == kind]
        else:  # an area alone: its lights, or all of it when it has none; "everything in the bedroom": all of it
            grouped = [d for d in pool if d.kind in GROUPED]
            lights = [d for d in grouped if d.kind == "light"]
            candidates = grouped if request.every and area else lights or (grouped if area or request.every else [])
        if not candidates:
            what = f"{kind}s" if kind else "devices"
            return Target(unknown=f"There are no {what}{where(area)}." if area else f"I don't know any {what}.")
        if request.every or area or len(candidates) == 1:
            return Target(tuple(candidates), area=area)
        near = [d for d in candidates if self.here and _in(d, self.here)]
        if near:
            return Target(tuple(near), area=self.here)
        return Target(ambiguous=tuple(candidates))


def place_aliases(device: HomeDevice) -> list[tuple[str, str]]:
    """(alias, area or floor) for each other name Home Assistant's registries give its area and floor."""
    if not isinstance(device, HaDevice):
        return []
    found = [(a, device.area) for a in device.area_aliases if device.area.strip()]
    return found + [(a, device.floor) for a in device.floor_aliases if device.floor.strip()]


def _in(device: HomeDevice, area: str) -> bool:
    place = normalize(area)
    return place in (normalize(device.area), normalize(device.floor))
