"""What home control says: device lists, what was done, what could not be, and device states."""

from __future__ import annotations

from collections.abc import Sequence

from appliance.home.states import DeviceStates
from appliance.settings import HomeDevice

ADVERBS = frozenset({"downstairs", "upstairs", "outside", "outdoors", "inside", "indoors", "everywhere"})
"""Areas said without "in the" ("lights off downstairs")."""
LISTED = 3
"""More devices than this are counted ("12 lights"), not named one by one."""


def names(devices: Sequence[HomeDevice], conjunction: str = "and", area: str = "") -> str:
    """ "the kitchen light", "the kitchen light and the hall light", "5 lights in the kitchen"."""
    if len(devices) > LISTED:
        kinds = {d.kind for d in devices}
        kind = next(iter(kinds)) if len(kinds) == 1 and "other" not in kinds else "device"
        return f"{len(devices)} {kind}{'es' if kind == 'switch' else 's'}{where(area)}"
    said = [f"the {d.name}" for d in devices]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + f" {conjunction} {said[-1]}"


def where(area: str) -> str:
    """ " in the kitchen", " downstairs", or "" for no area."""
    if not area:
        return ""
    return f" {area}" if area.lower().split()[-1] in ADVERBS else f" in the {area}"


def which(devices: Sequence[HomeDevice]) -> str:
    """Asked back when a request fits several devices equally."""
    if len(devices) > LISTED:
        return f"Which one do you mean? There are {names(devices)}. Say its name or the room."
    return f"Which one do you mean: {names(devices, 'or')}?"


def switched(action: str, done: Sequence[HomeDevice], missed: Sequence[HomeDevice], area: str = "") -> str:
    """After publishing on/off: only what went out is claimed."""
    if not done:
        return f"I can't reach the home network right now, so I did not switch {names(missed, 'or', area)}."
    said = f"I turned {action} {names(done, 'and', area if not missed else '')}."
    return said + (f" I could not reach {names(missed, 'or')}." if missed else "")


def brightness_set(
    done: Sequence[tuple[HomeDevice, int]], step: int | None, missed: Sequence[HomeDevice], area: str = ""
) -> str:
    """After publishing brightness: "I set the kitchen light to 30 percent." (or up/down to, or off)."""
    if not done:
        return f"I can't reach the home network right now, so I did not change {names(missed, 'or', area)}."
    devices = [d for d, _ in done]
    levels = {level for _, level in done}
    listed = names(devices, "and", area if not missed else "")
    if levels == {0}:
        said = f"I turned off {listed}."
    elif step is None:
        said = f"I set {listed} to {levels.pop()} percent."
    else:
        direction = "up" if step > 0 else "down"
        to = f" to {levels.pop()} percent" if len(levels) == 1 else ""
        said = f"I turned {listed} {direction}{to}."
    return said + (f" I could not reach {names(missed, 'or')}." if missed else "")


def not_dimmable(devices: Sequence[HomeDevice]) -> str:
    listed = names(devices)
    return f"{listed[:1].upper()}{listed[1:]} can't be dimmed, only switched on or off."


def level_unknown(devices: Sequence[HomeDevice]) -> str:
    return f"I don't know how bright {names(devices, 'or')} is now. Say a level, like 50 percent."


def states_said(devices: Sequence[HomeDevice], states: DeviceStates, area: str = "") -> str:
    """ "The porch light is on." / "The kitchen light is on, at 40 percent; the hall light is off." """
    on = [d for d in devices if states.power(d) is True]
    off = [d for d in devices if states.power(d) is False]
    silent = [d for d in devices if states.power(d) is None]
    if len(devices) == 1:
        device = devices[0]
        if silent:
            why = "it has not reported its state yet" if device.state_topic else "it does not report its state"
            return f"I don't know whether the {device.name} is on: {why}."
        word = "on" if on else "off"
        if not device.state_topic:  # only what this appliance last sent
            return f"The {device.name} should be {word}: I switched it {word}, but it does not report its state."
        level = states.brightness(device) if on and device.dimmable else None
        return f"The {device.name} is {word}" + (f", at {level} percent." if level else ".")
    parts = []
    for group, word in ((on, "on"), (off, "off")):
        if group:
            verb = "is" if len(group) == 1 else "are"
            parts.append(f"{names(group, 'and', area)} {verb} {word}")
    said = "; ".join(parts)
    said = said[:1].upper() + said[1:] + "." if said else ""
    if silent:
        said += f" I don't know about {names(silent, 'or')}."
    return said.strip()
