"""The fast path's brightness grammar: "dim the kitchen to thirty percent", "brighter in here", "lights to 50%".

Pure text handling like :mod:`.phrases`: it finds a level (absolute, 0-100) or a step
(percent points, :data:`~appliance.home.request.STEP` when no number is said) and the words
that name the target; :mod:`.resolve` decides what they mean.  Numbers are read by the
skills' number parser, so "thirty", "30" and "30%" are the same.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from appliance.home.phrases import DETERMINERS, EVERYTHING, LEADING, TRAILING
from appliance.home.request import HERE, STEP
from appliance.skills.numbers import parse_number, words

UP = frozenset({"brighter", "brighten", "lighter", "up", "increase", "raise"})
DOWN = frozenset({"dimmer", "dim", "darker", "darken", "down", "decrease", "lower", "reduce"})
CUES = frozenset({"dim", "dimmer", "darker", "darken", "brighter", "brighten", "brightness", "bright"})
"""Words that make a request about brightness (with a percentage, "set" and "turn" do too)."""
VERBS = frozenset({"set", "turn", "make", "put", "change", "adjust", "bring", "can", "could"})
FULL = {"full": 100, "maximum": 100, "max": 100, "half": 50, "minimum": 1}
NOISE = frozenset(
    {"the", "a", "bit", "little", "lot", "more", "less", "much", "too", "it's", "its", "is", "please", "percent"}
    | {"to", "by", "of", "brightness", "level", "light", "lights", "lighting", "way", "some", "slightly", "and"}
    | {"you", "me", "for", "can", "could", "would", "will", "please", "it", "a", "bright", "dark", "dim", "on"}
)
"""Words around the level that name nothing (the target's kind word is added back when it is all there is)."""
KIND_WORDS = frozenset({"light", "lights", "lamp", "lamps", "lighting"})


@dataclass(frozen=True)
class BrightnessRequest:
    target: str
    """Words naming the device, area or kind ("kitchen", "lights"); "" for "in here"-less requests."""
    area: str = ""
    level: int | None = None
    """Absolute percent."""
    step: int | None = None
    """Percent points, signed."""
    everything: bool = False


def parse_brightness(text: str) -> BrightnessRequest | None:
    """The brightness request in ``text``, or None if it is not shaped like one."""
    tokens = _strip(words(text.replace("’", "'")))
    if not tokens or not _about_brightness(tokens):
        return None
    level, step, used = _amount(tokens)
    if level is None and step is None:
        return None
    rest = [t for i, t in enumerate(tokens) if i not in used]
    area = ""
    if "in" in rest:  # "… in the kitchen", "brighter in here"
        at = rest.index("in")
        area = " ".join(w for w in rest[at + 1 :] if w not in DETERMINERS and w not in NOISE) or ""
        rest = rest[:at]
    if (rest and rest[-1] == "here") or area == "here":
        area, rest = HERE, [w for w in rest if w != "here"]
    everything = any(w in EVERYTHING for w in rest)
    named = [w for w in rest if w not in VERBS and w not in UP | DOWN | CUES and w not in DETERMINERS]
    named = [w for w in named if w not in NOISE and w not in EVERYTHING]
    kind = next((w for w in rest if w in KIND_WORDS), "")
    target = " ".join(named) or kind or ("" if area else "lights")
    if kind and named and kind not in target:
        target = f"{target} {kind}"
    return BrightnessRequest(target, area, level, step, everything)


def _about_brightness(tokens: list[str]) -> bool:
    said = set(tokens)
    if CUES & said or "percent" in said:  # not "too dark" alone: an indirect wish is the tool path's (it may mean "on")
        return True
    return tokens[0] in VERBS | UP | DOWN and bool((UP | DOWN) & said and KIND_WORDS & said)  # "lower the lamp"


def _too(tokens: list[str]) -> int:
    """ "too dark" (+1), "too bright" (-1), else 0."""
    for before, word in itertools.pairwise(tokens):
        if before == "too" and word in ("dark", "dim"):
            return 1
        if before == "too" and word in ("bright", "light"):
            return -1
    return 0


def _strip(tokens: list[str]) -> list[str]:
    text = " ".join(tokens)
    for lead in LEADING:
        if text.startswith(lead + " "):
            text = text[len(lead) + 1 :]
    for trail in TRAILING:
        if text.endswith(" " + trail):
            text = text[: -len(trail) - 1]
    return text.split()


def _amount(tokens: list[str]) -> tuple[int | None, int | None, set[int]]:
    """(absolute level, signed step, token positions used)."""
    direction = _too(tokens)
    for t in tokens:
        if t in UP:
            direction = 1
        elif t in DOWN:
            direction = -1
    for i, t in enumerate(tokens):
        if t in FULL and (i + 1 == len(tokens) or tokens[i + 1] in ("brightness", "percent", "power")):
            return FULL[t], None, {i}
        number = parse_number(tokens, i)
        if number is None:
            continue
        value, end = int(number[0]), number[1]
        used = set(range(i, end)) | ({end} if end < len(tokens) and tokens[end] == "percent" else set())
        if i > 0 and tokens[i - 1] == "by" and direction:
            return None, direction * value, used | {i - 1}
        if 0 <= value <= 100:
            return value, None, used
        return None, None, used
    if direction:
        return None, direction * STEP, set()
    return None, None, set()
