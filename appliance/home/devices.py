"""Which configured device a request means: fuzzy on names, aliases, areas and kinds; never a guess.

A name matches when it is close enough (STT's "kitchen lite"), or when every
spoken word is one of its words ("the fan" for the only fan).  Two devices
that match about equally well make the request ambiguous, and nothing
matching well enough makes it unknown: both are answered in words, neither
switches anything.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from appliance.home.phrases import SwitchRequest, normalize
from appliance.settings import HomeDevice

THRESHOLD = 0.8
"""Lowest score that counts as naming a device."""
TIE = 0.05
"""Devices within this of the best score are equally likely: ambiguous."""
WORD_MATCH = 0.8
NEAR = 0.6
"""Words this similar make a device worth scoring at all (a bound well under :data:`WORD_MATCH`)."""


@dataclass
class Resolution:
    devices: list[HomeDevice] = field(default_factory=list)
    """What to switch (empty: unknown or ambiguous)."""
    ambiguous: list[HomeDevice] = field(default_factory=list)
    """Equally good candidates when the request does not say which."""
    score: float = 0.0


@functools.lru_cache(maxsize=65_536)
def word_similarity(a: str, b: str) -> float:
    """0..1 for two words; 0 for any pair under :data:`WORD_MATCH` (cheap bounds first: hundreds of devices)."""
    if a == b:
        return 1.0
    matcher = SequenceMatcher(None, a, b)
    if matcher.real_quick_ratio() < WORD_MATCH or matcher.quick_ratio() < WORD_MATCH:
        return 0.0
    return matcher.ratio()


@functools.lru_cache(maxsize=65_536)
def near(a: str, b: str) -> bool:
    """Whether two words could be one misheard ("lite", "light"; "kitchenlight", "kitchen"): a loose bound."""
    if a == b:
        return True
    if 2 * min(len(a), len(b)) < NEAR * (len(a) + len(b)):
        return False
    return SequenceMatcher(None, a, b).ratio() >= NEAR


def similarity(query: str, phrase: str, matcher: SequenceMatcher[str] | None = None) -> float:
    """0..1: how well the spoken ``query`` names ``phrase`` (0 for anything under :data:`THRESHOLD`).

    ``matcher``: one already holding ``phrase`` as its second sequence (its index is built once per phrase).
    """
    if query == phrase:
        return 1.0
    if matcher is None:
        matcher = SequenceMatcher(None, query, phrase)
    else:
        matcher.set_seq1(query)
    score = 0.0
    spoken, named = query.split(), phrase.split()
    if spoken and all(any(word_similarity(s, n) >= WORD_MATCH for n in named) for s in spoken):
        score = 0.75 + 0.25 * min(len(spoken) / len(named), 1.0)  # "fan" of "bedroom fan"
    floor = max(score, THRESHOLD)  # the character ratio counts only above this; its cheap upper bounds go first
    if matcher.real_quick_ratio() >= floor and matcher.quick_ratio() >= floor:
        score = max(score, matcher.ratio())
    return score


class DeviceDirectory:
    """The configured devices and the phrases that name each."""

    def __init__(self, devices: tuple[HomeDevice, ...] | list[HomeDevice]) -> None:
        self.devices = list(devices)
        self._phrases = {d.name: phrases(d) for d in self.devices}
        self._matchers = {p: SequenceMatcher(None, "", p) for names in self._phrases.values() for p in names}
        self._by_word: dict[str, set[int]] = {}
        """Each word of any phrase -> the devices (indices) it names: only those are scored."""
        for i, device in enumerate(self.devices):
            for phrase in self._phrases[device.name]:
                for word in phrase.split():
                    self._by_word.setdefault(word, set()).add(i)

    def candidates(self, query: str) -> set[int]:
        """Devices (indices) with a word near one of ``query``'s: the rest cannot score :data:`THRESHOLD`."""
        out: set[int] = set()
        for spoken in set(query.split()):
            for word, devices in self._by_word.items():
                if near(spoken, word):
                    out |= devices
        return out

    def resolve(self, request: SwitchRequest) -> Resolution:
        if request.everything:
            return Resolution(self._every(request), score=1.0)
        query = f"{request.area} {request.target}".strip() if request.area else request.target
        memo: dict[str, float] = {}
        scored = sorted(
            ((self.score(query, self.devices[i], memo), i) for i in self.candidates(query)),
            key=lambda x: (-x[0], x[1]),
        )
        if not scored or scored[0][0] < THRESHOLD:
            return Resolution(score=scored[0][0] if scored else 0.0)
        best = scored[0][0]
        close = [self.devices[i] for score, i in scored if score >= THRESHOLD and best - score < TIE]
        if len(close) > 1:
            return Resolution(ambiguous=close, score=best)
        return Resolution([close[0]], score=best)

    def score(self, query: str, device: HomeDevice, memo: dict[str, float] | None = None) -> float:
        """How well ``query`` names ``device`` (``memo``: phrase scores for this query, shared by devices).

        Area + kind ("kitchen light" for any light in the kitchen) counts twice :data:`TIE` less than a
        name, so "kitchen lite" means the device called "kitchen light", not every light there.
        """
        memo = {} if memo is None else memo
        generic = generic_phrase(device)
        if generic in (normalize(n) for n in (device.name, *device.aliases)):
            generic = ""  # its own name, not just what it is
        best = 0.0
        for phrase in self._phrases[device.name]:
            if phrase not in memo:
                memo[phrase] = similarity(query, phrase, self._matchers[phrase])
            best = max(best, memo[phrase] - (2 * TIE if phrase == generic and query != phrase else 0.0))
        return best

    def _every(self, request: SwitchRequest) -> list[HomeDevice]:
        """ "all the lights (in the kitchen)": every device of that kind (and area)."""
        kind = request.target.rstrip("s") if request.target else ""
        return [
            d
            for d in self.devices
            if (not kind or word_similarity(kind, d.kind) >= WORD_MATCH)
            and (not request.area or word_similarity(request.area, normalize(d.area)) >= WORD_MATCH)
        ]

    def mentioned(self, text: str) -> list[HomeDevice]:
        """Devices whose name, alias or area words occur in ``text`` (the LLM path's allow-list)."""
        words = set(normalize(text).split())
        found: set[int] = set()
        for name, devices in self._by_word.items():
            if name in words or (len(name) > 2 and any(word_similarity(w, name) >= 0.85 for w in words)):
                found |= {i for i in devices if name != self.devices[i].kind}
        return [self.devices[i] for i in sorted(found)]


def generic_phrase(device: HomeDevice) -> str:
    """ "kitchen light" for a light in the kitchen, whatever its name."""
    area = normalize(device.area)
    return f"{area} {device.kind}" if area else ""


def phrases(device: HomeDevice) -> list[str]:
    """Every way to name ``device``: names and aliases, with and without its area, and area + kind."""
    names = [normalize(n) for n in (device.name, *device.aliases) if n.strip()]
    area = normalize(device.area)
    out = list(names)
    if area:
        out += [f"{area} {n}" for n in names if area not in n]
        out.append(f"{area} {device.kind}")
    return list(dict.fromkeys(out))
