"""The fast path's grammar: "turn on the kitchen light", "switch the fan off", "lights off in the hall".

Pure text handling, no devices: :func:`parse_switch` finds the action and
the words that name the target; :mod:`.devices` decides what they mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERBS = frozenset({"turn", "switch", "put", "shut", "flip"})
ACTIONS = frozenset({"on", "off"})
LEADING = (
    "i want you to",
    "i'd like you to",
    "i would like you to",
    "go ahead and",
    "could you",
    "can you",
    "would you",
    "will you",
    "please",
    "kindly",
    "ok",
    "okay",
    "hey",
)
TRAILING = ("right now", "thank you", "for me", "please", "thanks", "now")
DETERMINERS = frozenset({"the", "my", "our", "a", "an", "this", "that", "those", "these"})
EVERYTHING = frozenset({"all", "every", "everything"})
PRONOUNS = frozenset({"it", "them", "that", "this"})
"""A target that is only a pronoun needs the conversation's context: left to the LLM."""


@dataclass(frozen=True)
class SwitchRequest:
    action: str
    """``on`` or ``off``."""
    target: str
    """The words naming the device, determiners dropped: ``kitchen light``."""
    area: str = ""
    """From "… in the kitchen", if said."""
    everything: bool = False
    """"all the lights": every matching device."""
    explicit: bool = True
    """Said with a verb ("turn …"); a bare "kitchen light on" only counts if it names a device."""

    @property
    def spoken_target(self) -> str:
        return f"{self.target} in the {self.area}" if self.area and self.target else (self.target or self.area)


def normalize(text: str) -> str:
    """Lower case, words only (apostrophes kept), single spaces."""
    text = text.lower().replace("’", "'")
    return " ".join(re.sub(r"[^\w' ]+", " ", text).split())


def _strip_fillers(text: str) -> str:
    changed = True
    while changed:
        changed = False
        for lead in LEADING:
            if text.startswith(lead + " "):
                text, changed = text[len(lead) + 1 :], True
        for trail in TRAILING:
            if text.endswith(" " + trail):
                text, changed = text[: -len(trail) - 1], True
    return text


def parse_switch(text: str) -> SwitchRequest | None:
    """The on/off request in ``text``, or None if it is not shaped like one."""
    words = _strip_fillers(normalize(text)).split()
    if len(words) < 2:
        return None
    if words[0] in VERBS:
        at = next((i for i in range(1, len(words)) if words[i] in ACTIONS), None)
        if at is None:
            return None
        action, rest, explicit = words[at], words[1:at] + words[at + 1 :], True
    elif words[-1] in ACTIONS:
        action, rest, explicit = words[-1], words[:-1], False
    elif words[0] in ACTIONS:  # "… on the kitchen light": the verb was clipped before the recogniser heard it
        action, rest, explicit = words[0], words[1:], False
    else:
        return None
    return _target(action, rest, explicit)


def _target(action: str, words: list[str], explicit: bool) -> SwitchRequest | None:
    area = ""
    for i, word in enumerate(words):
        if word == "in" and i + 1 < len(words):  # "… in the kitchen"
            area = " ".join(w for w in words[i + 1 :] if w not in DETERMINERS)
            words = words[:i]
            break
    everything = any(w in EVERYTHING for w in words)
    if words and all(w in PRONOUNS for w in words):
        return None
    kept = [w for w in words if w not in DETERMINERS and w not in EVERYTHING and w != "of"]
    if not kept and not area:
        return None
    return SwitchRequest(action, " ".join(kept), area, everything, explicit)
