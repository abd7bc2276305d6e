"""A matched Home Assistant intent as the appliance's own: its name, its values and the action that does it.

Every action is the one the appliance's own rules build (the skills' timer, clock,
volume and list builders; home control's ``handle``; the rooms' broadcast), so a
request means the same whichever matcher understood it.  Names and values follow
the shared contract (``timer.start`` with ``duration_s`` and ``name``, …).
A mapping returns None when the appliance has no part that could do it (no
skills, no devices), so the request goes on to the next matcher.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.home.request import HERE, HomeRequest
from appliance.skills.durations import find_duration
from appliance.skills.engine import LIST_ALIASES
from appliance.skills.intents_answers import (
    clock_date,
    clock_time,
    clock_weekday,
    device_stop,
    list_add,
    list_remove,
    list_show,
    volume_set,
    volume_step,
)
from appliance.skills.intents_schedule import (
    timer_add,
    timer_cancel,
    timer_pause,
    timer_remaining,
    timer_resume,
    timer_start,
)
from appliance.skills.numbers import words
from appliance.skills.phrasing import split_items
from appliance.skills.voice import SkillContext, saying
from appliance.understanding.sentences import DELEGATED, Recognition
from appliance.voice.reply import Intent

_LOGGER = logging.getLogger(__name__)

Broadcast = Callable[[str, str], Awaitable[str]]
"""(text, area) → what to say once it went out; area "" is every room."""
Delegate = Callable[[str], "Intent | None"]
"""Home Assistant's own agent for a home request the appliance does not carry out itself (None: no Home Assistant)."""
NO_ROOMS = "I can't reach the other rooms."
NOTHING_PLAYING = "Nothing is playing."
_DETERMINERS = frozenset({"the", "my", "a", "an", "our", "this", "that"})
_EVERY = frozenset({"all", "every", "everything", "each"})
_TIMER_SAID = re.compile(r"\btimers?\b", re.IGNORECASE)
_HERE_SAID = re.compile(r"\bhere\b|\b(?:this|the|my|our) (?:room|area|space)\b")
"""English "in here", "this room"; in other languages no area is passed, and home control prefers this room."""


class HomeHandler(Protocol):
    """Home control as the understanding layer uses it (``appliance.home.HomeControl``)."""

    def handle(self, request: HomeRequest, text: str) -> Intent | None:
        """The intent that carries ``request`` out (or asks back), or None if no device fits."""
        ...


@dataclass
class Ports:
    """What a mapped intent may act through; a missing part leaves its intents to other matchers."""

    skills: SkillContext | None = None
    home: HomeHandler | None = None
    broadcast: Broadcast | None = None
    own_area: str = ""
    """This appliance's room (``rooms.area``): volume and media asked for there are its own."""
    delegate: Delegate | None = None
    """Set with ``[home_assistant]``: Home Assistant's sentences the appliance does not carry out go there."""


Mapper = Callable[[Ports, Recognition], "Intent | None"]


def to_intent(ports: Ports, found: Recognition) -> Intent | None:
    """The appliance's intent for a recognised sentence, or None to let the next matcher try."""
    mapper = MAPPERS.get(found.intent)
    return None if mapper is None else mapper(ports, found)


# -- values -----------------------------------------------------------------------------------------------------
def duration_s(slots: Mapping[str, Any], prefix: str = "") -> int:
    """Hours, minutes and seconds slots (``start_…`` with ``prefix``) as whole seconds."""
    total = 0.0
    for key, unit in (("hours", 3600), ("minutes", 60), ("seconds", 1)):
        value = slots.get(prefix + key)
        if value is not None:
            total += float(value) * unit
    return round(total)


def duration_of(said: object) -> float | None:
    """Seconds, when every word of ``said`` is one duration ("an hour and a half" → 5400), else None."""
    tokens = words(str(said or ""))
    span = find_duration(tokens)
    return span.value if span is not None and span.start == 0 and span.end == len(tokens) else None


def spoken_name(value: object) -> str:
    """A name as said ("the Pasta", "my bread timer") → "pasta", "bread"."""
    said = str(value or "").lower().replace("’", "'").split()
    while said and said[0] in _DETERMINERS:
        said = said[1:]
    while said and said[-1] in ("timer", "timers"):
        said = said[:-1]
    return " ".join(w.strip(".,!?") for w in said).strip()


def _timer_name(slots: Mapping[str, Any]) -> str:
    """The timer meant: by name, or by the area said as one ("the kitchen timer")."""
    return spoken_name(slots.get("name") or ("" if slots.get("area") == HERE else slots.get("area")))


def _items(value: object) -> list[str]:
    return split_items(str(value or "").lower().strip(" .,!?"))


def _list_key(value: object) -> str:
    said = str(value or "shopping").lower().removesuffix(" list")
    return LIST_ALIASES.get(said, LIST_ALIASES.get(said.replace("-", " "), "shopping"))


def _ours(ports: Ports, slots: Mapping[str, Any]) -> bool:
    """Volume and media said of this room (or of no room): the appliance's own playback."""
    area = str(slots.get("area") or HERE).lower()
    return area == HERE or (bool(ports.own_area) and area == ports.own_area.strip().lower())


# -- skills -----------------------------------------------------------------------------------------------------
def _skill(build: Callable[[SkillContext, Recognition], Intent | None]) -> Mapper:
    def mapper(ports: Ports, found: Recognition) -> Intent | None:
        return None if ports.skills is None else build(ports.skills, found)

    return mapper


def _start(ctx: SkillContext, found: Recognition) -> Intent:
    return timer_start(ctx, duration_s(found.slots), spoken_name(found.slots.get("name")))


def _start_said(ctx: SkillContext, found: Recognition) -> Intent | None:
    seconds = duration_of(found.slots.get("duration"))
    return None if seconds is None else timer_start(ctx, seconds)


def _cancel(ctx: SkillContext, found: Recognition) -> Intent:
    return timer_cancel(ctx, _timer_name(found.slots), every=False)


def _cancel_all(ctx: SkillContext, found: Recognition) -> Intent:
    return timer_cancel(ctx, "", every=True)


def _more(ctx: SkillContext, found: Recognition) -> Intent:
    return timer_add(ctx, duration_s(found.slots), _timer_name(found.slots))


def _less(ctx: SkillContext, found: Recognition) -> Intent:
    return timer_add(ctx, -duration_s(found.slots), _timer_name(found.slots))


def _volume(ctx: SkillContext, found: Recognition) -> Intent | None:
    if "volume_level" not in found.slots:
        return None
    value = float(found.slots["volume_level"])
    if value <= 10 and "%" not in found.text and "percent" not in found.text and "per cent" not in found.text:
        value *= 10  # "volume 5": a 0–10 scale, as the appliance's own rule hears it
    return volume_set(ctx, value)


def _volume_step(ctx: SkillContext, found: Recognition) -> Intent | None:
    step = found.slots.get("volume_step")
    if step in ("up", "down"):
        delta = ctx.settings.volume_step
        return volume_step(ctx, delta if step == "up" else -delta)
    if isinstance(step, (int, float)) and step:
        return volume_step(ctx, round(step))
    return None


def _add_items(ctx: SkillContext, found: Recognition) -> Intent | None:
    items = _items(found.slots.get("item"))
    return list_add(ctx, _list_key(found.slots.get("name")), items) if items else None


def _remove_items(ctx: SkillContext, found: Recognition) -> Intent | None:
    items = _items(found.slots.get("item"))
    return list_remove(ctx, _list_key(found.slots.get("name")), items) if items else None


def _media(name: str) -> Mapper:
    """Pause stops what plays (a reply, a ring: the request already interrupted it); the rest has nothing to act on."""

    def mapper(ports: Ports, found: Recognition) -> Intent | None:
        if ports.skills is None or not _ours(ports, found.slots):
            return None
        if name == "media.pause":
            stop = found.text.split()[:1] == ["stop"]  # "stop", "stop the music": what the appliance calls stop
            return device_stop(ports.skills, "device.stop" if stop else name)
        return saying(name, NOTHING_PLAYING)

    return mapper


# -- home control -----------------------------------------------------------------------------------------------
def _home(action: str) -> Mapper:
    def mapper(ports: Ports, found: Recognition) -> Intent | None:
        name = str(found.slots.get("name") or "")
        if ports.home is None or (_TIMER_SAID.search(name) and not spoken_name(name)):
            return None  # "turn the timer off": the skills' rules cancel it
        request = home_request(action, found)
        if request is None:
            return _delegate(ports, found)
        return ports.home.handle(request, found.text)

    return mapper


def _delegate(ports: Ports, found: Recognition) -> Intent | None:
    """A Home Assistant sentence the appliance does not carry out itself: Home Assistant's agent answers it."""
    return None if ports.delegate is None else ports.delegate(found.text)


def _temperature(ports: Ports, found: Recognition) -> Intent | None:
    """ "What's the temperature in the living room?": its temperature sensors, else Home Assistant's agent."""
    if ports.home is None:
        return None
    area = found.slots.get("area")
    if area == HERE and not _HERE_SAID.search(found.text):
        area = None
    name = found.slots.get("name")
    request = HomeRequest("state", name=name, area=area, domain=None if name else "temperature")
    intent = ports.home.handle(request, found.text)
    if intent is not None and intent.name == "home.unknown" and ports.delegate is not None:
        return ports.delegate(found.text)
    return intent


STATE_COMBINATIONS = frozenset(
    {"name_only", "name_state", "domain_state", "domain_state_area", "name_state_area", "name_state_floor"}
)
"""HassGetState's questions home control answers itself ("which …", "how many …" are Home Assistant's)."""


def home_request(action: str, found: Recognition) -> HomeRequest | None:
    """The home request a matched sentence says; None for a question home control cannot answer."""
    slots = found.slots
    area = slots.get("area") or slots.get("floor")
    if area == HERE and not _HERE_SAID.search(found.text):
        area = None  # filled in from the context, not said: "turn on the lights" (home control prefers this room)
    name = slots.get("name")
    domain = slots.get("domain")
    every = found.combination == "domain_all" or bool(_EVERY.intersection(found.text.lower().split()))
    if action == "brightness":
        if "brightness" not in slots:
            return None  # a colour or a temperature: not something the devices take
        level = max(0, min(100, round(float(slots["brightness"]))))
        return HomeRequest("brightness", name=name, area=area, domain=domain, brightness=level)
    if action == "state" and found.combination not in STATE_COMBINATIONS:
        return None
    return HomeRequest(action, name=name, area=area, domain=domain, every=every)  # type: ignore[arg-type]


# -- rooms ------------------------------------------------------------------------------------------------------
def _broadcast(ports: Ports, found: Recognition) -> Intent | None:
    text = str(found.slots.get("message") or "").strip()
    if not text:
        return saying("rooms.broadcast", "What should I tell them?", {"error": "text"})
    area = "" if found.slots.get("area") in (None, HERE) else str(found.slots["area"])
    send = ports.broadcast
    if send is None:
        return saying("rooms.broadcast", NO_ROOMS, {"text": text, "area": area})

    async def act() -> str | None:
        return await send(text, area)

    return Intent("rooms.broadcast", "Okay.", act, {"text": text, "area": area})


SUBJECTS = frozenset(
    {"i", "i'm", "i'll", "i've", "i'd", "we", "we're", "we'll", "we've", "we'd", "it's", "there's", "they're", "you're"}
    | {"he's", "she's", "dinner's", "lunch's", "breakfast's", "tea's", "dinner", "lunch", "breakfast", "everyone"}
)
"""How a message told to a room opens ("tell the office I'm leaving"); "tell the kitchen light to …" opens otherwise."""


def _tell_room(ports: Ports, found: Recognition) -> Intent | None:
    message = str(found.slots.get("message") or "").split()
    return _broadcast(ports, found) if message and message[0].lower() in SUBJECTS else None


def _nevermind(ports: Ports, found: Recognition) -> Intent | None:
    return None if ports.skills is None else device_stop(ports.skills, "device.cancel")


MAPPERS: Mapping[str, Mapper] = {
    "HassStartTimer": _skill(_start),
    "HassCancelTimer": _skill(_cancel),
    "HassCancelAllTimers": _skill(_cancel_all),
    "HassIncreaseTimer": _skill(_more),
    "HassDecreaseTimer": _skill(_less),
    "HassPauseTimer": _skill(lambda ctx, found: timer_pause(ctx, _timer_name(found.slots))),
    "HassUnpauseTimer": _skill(lambda ctx, found: timer_resume(ctx, _timer_name(found.slots))),
    "HassTimerStatus": _skill(lambda ctx, found: timer_remaining(ctx, _timer_name(found.slots))),
    "HassGetCurrentTime": _skill(lambda ctx, found: clock_time(ctx)),
    "HassGetCurrentDate": _skill(lambda ctx, found: clock_date(ctx)),
    "HassSetVolume": lambda ports, found: _skill(_volume)(ports, found) if _ours(ports, found.slots) else None,
    "HassSetVolumeRelative": lambda ports, found: (
        _skill(_volume_step)(ports, found) if _ours(ports, found.slots) else None
    ),
    "HassMediaPause": _media("media.pause"),
    "HassMediaUnpause": _media("media.resume"),
    "HassMediaNext": _media("media.next"),
    "HassMediaPrevious": _media("media.previous"),
    "HassListAddItem": _skill(_add_items),
    "HassShoppingListAddItem": _skill(_add_items),
    "HassListRemoveItem": _skill(_remove_items),
    "HassListCompleteItem": _skill(_remove_items),
    "HassShoppingListCompleteItem": _skill(_remove_items),
    "HassNevermind": _nevermind,
    "HassBroadcast": _broadcast,
    "ApplianceGetWeekday": _skill(lambda ctx, found: clock_weekday(ctx)),
    "ApplianceListShow": _skill(lambda ctx, found: list_show(ctx, _list_key(found.slots.get("name")))),
    "ApplianceBroadcast": _broadcast,
    "ApplianceTellRoom": _tell_room,
    "ApplianceStartTimer": _skill(_start_said),
    "HassTurnOn": _home("on"),
    "HassTurnOff": _home("off"),
    "HassLightSet": _home("brightness"),
    "HassGetState": _home("state"),
    "HassClimateGetTemperature": _temperature,
    **dict.fromkeys(DELEGATED, _delegate),
}
"""Every handled intent (:data:`.sentences.HANDLED`) and what it becomes."""
