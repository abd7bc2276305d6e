"""Which configured device a request means: fuzzy on names, aliases, areas and kinds; never a guess.

A name matches when it is close enough (STT's "kitchen lite"), or when every
spoken word is one of its words ("the fan" for the only fan).  Two devices
that match about equally well make the request ambiguous, and nothing
matching well enough makes it unknown: both are answered in words, neither
switches anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

from appliance.home.phrases import SwitchRequest, normalize
from appliance.settings import HomeDevice

THRESHOLD = 0.8
"""Lowest score that counts as naming a device."""
TIE = 0.05
"""Devices within this of the best score are equally likely: ambiguous."""
WORD_MATCH = 0.8


@dataclass
class Resolution:
    devices: list[HomeDevice] = field(default_factory=list)
    """What to switch (empty: unknown or ambiguous)."""
    ambiguous: list[HomeDevice] = field(default_factory=list)
    """Equally good candidates when the request does not say which."""
    score: float = 0.0


def word_similarity(a: str, b: str) -> float:
    return 1.0 if a == b else SequenceMatcher(None, a, b).ratio()


def similarity(query: str, phrase: str) -> float:
    """0..1: how well the spoken ``query`` names ``phrase``."""
    if query == phrase:
        return 1.0
    score = SequenceMatcher(None, query, phrase).ratio()
    spoken, named = query.split(), phrase.split()
    if spoken and all(any(word_similarity(s, n) >= WORD_MATCH for n in named) for s in spoken):
        score = max(score, 0.75 + 0.25 * min(len(spoken) / len(named), 1.0))  # "fan" of "bedroom fan"
    return score


class DeviceDirectory:
    """The configured devices and the phrases that name each."""

    def __init__(self, devices: tuple[HomeDevice, ...] | list[HomeDevice]) -> None:
        self.devices = list(devices)
        self._phrases = {d.name: phrases(d) for d in self.devices}

    def resolve(self, request: SwitchRequest) -> Resolution:
        if request.everything:
            return Resolution(self._every(request), score=1.0)
        query = f"{request.area} {request.target}".strip() if request.area else request.target
        scored = sorted(((self.score(query, d), i) for i, d in enumerate(self.devices)), key=lambda x: (-x[0], x[1]))
        if not scored or scored[0][0] < THRESHOLD:
            return Resolution(score=scored[0][0] if scored else 0.0)
        best = scored[0][0]
        close = [self.devices[i] for score, i in scored if score >= THRESHOLD and best - score < TIE]
        if len(close) > 1:
            return Resolution(ambiguous=close, score=best)
        return Resolution([close[0]], score=best)

    def score(self, query: str, device: HomeDevice) -> float:
        return max(similarity(query, phrase) for phrase in self._phrases[device.name])

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
        out = []
        for device in self.devices:
            names = {w for phrase in self._phrases[device.name] for w in phrase.split() if w != device.kind}
            if any(w == n or (len(n) > 2 and word_similarity(w, n) >= 0.85) for w in words for n in names):
                out.append(device)
        return out


def phrases(device: HomeDevice) -> list[str]:
    """Every way to name ``device``: names and aliases, with and without its area, and area + kind."""
    names = [normalize(n) for n in (device.name, *device.aliases) if n.strip()]
    area = normalize(device.area)
    out = list(names)
    if area:
        out += [f"{area} {n}" for n in names if area not in n]
        out.append(f"{area} {device.kind}")
    return list(dict.fromkeys(out))
