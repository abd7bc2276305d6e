"""The fast path's grammar: "turn on the kitchen light", "switch the fan off", "lights off in the hall".

Pure text handling, no devices: :func:`parse_switch` finds the action and
the words that name the target; :mod:`.devices` decides what they mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERBS = frozenset({"turn", "switch", "put", "shut", "flip", "flick", "turning", "switching"})
ACTIONS = frozenset({"on", "off"})
SHORTHAND = {"kill": "off"}
"""Verbs that carry their action ("kill the lights")."""
SOFT_SHORTHAND = {"start": "on", "stop": "off"}
"""Verbs that carry their action only of a device named ("start the desk fan"; "start the meeting" is talk)."""
MAKE_IT = {"light": "on", "bright": "on", "dark": "off"}
"""The lights asked for as a room's state: "make it light in the hall", "make it dark in here"."""
LIGHT_VERBS = {"open": "on", "close": "off"}
"""How many people say it of lights (as "Licht aufmachen" is said in German); only with a light word."""
LIGHT_WORDS = frozenset({"light", "lights", "lamp", "lamps", "lighting"})
QUESTION_STARTS = frozenset({"how", "what", "why", "when", "where", "who", "which", "whose", "do", "does", "did"})
"""A sentence that starts like this asks about switching ("how do I turn off the alarm"): it is not a request."""
LEADING = (
    "would you mind",
    "do you mind",
    "i need you to",
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
    "i need",
    "i want",
    "i'd like",
    "we need",
    "can i have",
    "can we have",
    "ok",
    "okay",
    "hey",
)
TRAILING = ("right now", "thank you", "for me", "please", "thanks", "now")
DETERMINERS = frozenset({"the", "my", "our", "a", "an", "this", "that", "those", "these"})
EVERYTHING = frozenset({"all", "every", "everything"})
GERUNDS = frozenset({"turning", "switching"})
CLAIMS = frozenset({"is", "was", "saves", "costs", "uses", "helps", "means", "makes", "wastes"})
"""After "turning …", a verb that makes the switching the subject of a statement, not a request."""
COPULAS = frozenset({"is", "are", "was", "were", "be", "been", "i'm", "we're"})
"""A statement ("the lights are on in the kitchen"), not a request."""
TARGET_NOISE = frozenset({"of", "go", "make", "get", "the", "back"})
"""Words around a target that name nothing ("make the lights go off")."""
PRONOUNS = frozenset({"it", "them", "that", "this"})
"""A target that is only a pronoun needs the conversation's context: left to the LLM."""
PAST_VERBS = frozenset(
    {"was", "were", "had", "went", "kept", "took", "made", "came", "broke", "blew", "lit", "ran", "sang"}
    | {"wrote", "forgot", "gave", "saw", "heard", "said", "told", "thought", "knew", "found", "felt", "bought"}
    | {"brought", "caught", "built", "began", "became", "fell", "held", "stood", "sat", "slept", "woke", "won"}
)
"""Irregular past forms; with the regular "-ed" ones they tell a story from a wish ("we turned the lights off")."""
_NOT_PAST = frozenset({"need", "speed", "hundred", "bed", "red", "feed", "seed", "shed", "indeed", "bleed"})


def past_tense(word: str) -> bool:
    """Is ``word`` a verb in the past ("flickered", "went")?  Words that only end like one are not."""
    return word in PAST_VERBS or (len(word) > 4 and word.endswith("ed") and word not in _NOT_PAST)


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
    if words[0] in GERUNDS and CLAIMS & set(words):  # "turning the lights off saves money": said about it
        return None
    if words[0] in VERBS or words[0] in SHORTHAND or words[0] in LIGHT_VERBS:
        return _verb_first(words, explicit=True)
    if words[0] in SOFT_SHORTHAND and "on" not in words and "off" not in words:
        return _target(SOFT_SHORTHAND[words[0]], words[1:], False)
    if words[:2] == ["make", "it"] and len(words) > 3 and words[2] in MAKE_IT and words[3] == "in":
        return _target(MAKE_IT[words[2]], ["lights", *words[3:]], False)
    later = next((i for i in range(1, len(words) - 1) if words[i] in VERBS), None)
    if later is not None and words[0] not in QUESTION_STARTS:  # "I'm going to bed, turn off the lights"
        found = _verb_first(words[later:], explicit=False)
        if found is not None:
            return found
    if words[-1] in ACTIONS:
        action, rest, explicit = words[-1], words[:-1], False
    elif words[0] in ACTIONS:  # "… on the kitchen light": the verb was clipped before the recogniser heard it
        action, rest, explicit = words[0], words[1:], False
    elif (
        len(words) <= 6 and sum(w in ACTIONS for w in words) == 1 and not COPULAS & set(words)
    ):  # "lights off upstairs"
        at = next(i for i, w in enumerate(words) if w in ACTIONS)
        action, rest, explicit = words[at], words[:at] + words[at + 1 :], False
    else:
        return None
    return _target(action, rest, explicit)


def bare_switch(text: str) -> str | None:
    """ "turn on", "switch it off"? No: only a verb and on/off with nothing named ("turn on"); the action, or None."""
    words = _strip_fillers(normalize(text)).split()
    return words[1] if len(words) == 2 and words[0] in VERBS and words[1] in ACTIONS else None


def _verb_first(words: list[str], *, explicit: bool) -> SwitchRequest | None:
    """ "turn the fan off", "kill the lights", "open the light in the kitchen"."""
    verb = words[0]
    if verb in SHORTHAND:
        return _target(SHORTHAND[verb], words[1:], explicit)
    if verb in LIGHT_VERBS:
        return _target(LIGHT_VERBS[verb], words[1:], explicit) if LIGHT_WORDS & set(words) else None
    at = next((i for i in range(1, len(words)) if words[i] in ACTIONS), None)
    if at is None and words[1] == "of":  # Whisper's "turn of the lights"
        words, at = [verb, "off", *words[2:]], 1
    if at is None:
        return None
    return _target(words[at], words[1:at] + words[at + 1 :], explicit)


@dataclass(frozen=True)
class StateQuestion:
    """ "is the porch light on?": the words naming the device (or area, or kind) and the area."""

    target: str
    area: str = ""
    everything: bool = False


def parse_state(text: str) -> StateQuestion | None:
    """The on/off question in ``text`` ("is the porch light on", "are any lights on in the kitchen"), or None."""
    words = _strip_fillers(normalize(text)).split()
    for lead in (["can", "you", "tell", "me"], ["tell", "me"], ["do", "you", "know"], ["can", "you"], ["check"]):
        if words[: len(lead)] == lead:
            words = words[len(lead) :]
            break
    if words[:1] in (["if"], ["whether"]):  # "check if the porch light is on": said as a statement
        words = words[1:]
        at = next((i for i, w in enumerate(words) if w in ("is", "are")), None)
        if at:
            words = [words[at], *words[:at], *words[at + 1 :]]
    if len(words) < 3 or words[0] not in ("is", "are"):
        return None
    rest = [w for w in words[1:] if w not in ("still", "switched", "turned", "left")]
    at = next((i for i, w in enumerate(rest) if w in ACTIONS), None)
    if at is None or at == 0:
        return None
    tail = rest[at + 1 :]
    if tail[:2] in (["or", "off"], ["or", "not"]):  # "is the fan on or off"
        tail = tail[2:]
    if tail and tail[0] != "in":  # "is the meeting on tuesday": not a state question
        return None
    request = _target("on", rest[:at] + tail, True)
    if request is None:
        return None
    everything = request.everything or "any" in rest[:at]
    return StateQuestion(" ".join(w for w in request.target.split() if w != "any"), request.area, everything)


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
    kept = [w for w in words if w not in DETERMINERS and w not in EVERYTHING and w not in TARGET_NOISE]
    if not kept and not area:
        return None
    return SwitchRequest(action, " ".join(kept), area, everything, explicit)
