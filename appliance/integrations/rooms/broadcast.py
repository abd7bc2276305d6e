"""Broadcasts as pure rules: the message, its text made safe to speak, repeats, areas, and the words that ask for one.

``<base>/rooms/<group>/broadcast {"id", "from", "text", "area"}``: every appliance of the
group whose ``rooms.area`` is ``area`` speaks ``text`` (all of them when ``area`` is
empty).  The text is bounded (:data:`TEXT_MAX`) and has no control characters; a
message is spoken once whatever the broker repeats (:class:`Seen`).  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appliance.core.control_chars import strip_control_chars
from appliance.core.errors import CommandError
from appliance.integrations.rooms.timers import same_name
from appliance.integrations.rooms.wire import valid_id

TEXT_MAX = 300
"""Characters a broadcast may say."""
AREA_MAX = 64
SEEN_MAX = 256
"""Broadcast ids remembered for dedupe (far more than arrive in the time a repeat could)."""


class BroadcastRefused(CommandError, ValueError):
    """A broadcast that is not spoken: malformed, too long, from an untrusted id, a flood, a repeat."""


def clean_text(text: str) -> str:
    """``text`` as it may be spoken: no control characters, one space between words, at most TEXT_MAX."""
    plain = " ".join(strip_control_chars(text).split())
    if not plain:
        raise BroadcastRefused("bad-arguments", "a broadcast needs some text")
    if len(plain) > TEXT_MAX:
        raise BroadcastRefused("too-long", f"a broadcast is at most {TEXT_MAX} characters")
    return plain


def clean_area(area: str) -> str:
    """An area as sent: no control characters, at most AREA_MAX."""
    plain = " ".join(strip_control_chars(area).split())
    if len(plain) > AREA_MAX:
        raise BroadcastRefused("too-long", f"an area is at most {AREA_MAX} characters")
    return plain


@dataclass(frozen=True)
class Broadcast:
    """One broadcast on the group's topic."""

    id: str
    """Unique per broadcast (1-64 of ``A-Z a-z 0-9 _ -``): repeats of it are dropped."""
    sender: str
    """The sending appliance's device id (wire key ``from``)."""
    text: str
    area: str = ""
    """Only appliances in this area speak it; empty for all."""

    @classmethod
    def from_payload(cls, obj: object) -> Broadcast:
        """Parse a broadcast message; raises :class:`BroadcastRefused` for anything else."""
        if not isinstance(obj, Mapping):
            raise BroadcastRefused("broadcast-malformed", "a broadcast is a JSON object")
        message_id, sender, text, area = (obj.get(k, "") for k in ("id", "from", "text", "area"))
        if not valid_id(message_id) or not valid_id(sender):
            raise BroadcastRefused("broadcast-malformed", "id and from are 1-64 characters of A-Z a-z 0-9 _ -")
        if not isinstance(text, str) or not isinstance(area, str):
            raise BroadcastRefused("broadcast-malformed", "text and area are strings")
        assert isinstance(message_id, str) and isinstance(sender, str)
        return cls(message_id, sender, clean_text(text), clean_area(area))

    def to_payload(self) -> dict[str, str]:
        return {"id": self.id, "from": self.sender, "text": self.text, "area": self.area}

    def for_area(self, area: str) -> bool:
        """True where an appliance in ``area`` speaks it."""
        return not self.area or same_name(self.area, area)


class Seen:
    """Broadcast ids already handled, the oldest forgotten first."""

    def __init__(self, size: int = SEEN_MAX) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first(self, message_id: str) -> bool:
        """True the first time ``message_id`` is offered; False for a repeat."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


_EVERYONE = r"(?:everyone|everybody|every room|all (?:the )?rooms|the (?:whole )?house|the family)"
_TO_ALL = re.compile(
    rf"^(?:please )?(?:(?:tell|let) {_EVERYONE}(?: know)?|(?:broadcast|announce)(?: to {_EVERYONE})?(?! (?:to|in)\b))"
    r"(?:,? that|:)?\s+(?P<text>.+)$",
    re.IGNORECASE,
)
_TO_AREA = re.compile(
    r"^(?:please )?(?:tell|let|(?:broadcast|announce) (?:to|in)) (?:the )?(?P<rest>.+)$",
    re.IGNORECASE,
)


def broadcast_request(said: str, areas: Iterable[str]) -> tuple[str, str] | None:
    """(text, area) for 'tell everyone dinner is ready' ('', everyone) or 'tell the kitchen I'm on my way',
    where the area is one of ``areas``; None for anything else ('tell me a joke')."""
    said = said.strip().rstrip(".!")
    found = _TO_ALL.match(said)
    if found:
        return _spoken(found["text"]), ""
    found = _TO_AREA.match(said)
    if found is None:
        return None
    rest = found["rest"]
    for area in sorted({a for a in areas if a.strip()}, key=len, reverse=True):  # "living room" before "room"
        words = re.escape(" ".join(area.replace("_", " ").split())).replace(r"\ ", r"[\s_]+")
        head = re.match(rf"(?:{words})(?: know)?(?:,? that|:)?\s+(?P<text>.+)$", rest, re.IGNORECASE)
        if head:
            return _spoken(head["text"]), area
    return None


def _spoken(text: str) -> str:
    """'dinner is ready' → 'Dinner is ready.'"""
    text = text.strip()
    if text and text[-1] not in ".!?":
        text += "."
    return text[:1].upper() + text[1:]
