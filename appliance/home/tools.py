"""The LLM's tool path: other phrasings ("the kitchen light should be off") become an allow-listed switch call.

The model never writes free text here.  Every call it could make — each
device the request mentions, switched on or off — is written out as a
sentence (``The user wants the <device> switched <on|off>.``) and the model
scores each one as the start of its reply (log-probability, on a fresh KV
cache so the score does not depend on earlier turns).  The best call is
carried out only when it beats the runner-up by :data:`MIN_MARGIN`; a closer
call is asked back instead of guessed.  Since the candidates are built from
the allow-list, nothing else can come out.  On the benchmark's 18 labelled
requests SmolLM2-135M acts on the clear ones and never wrongly
(``appliance bench --only mqtt``, "tool_path"; figures in docs/mqtt.md).

Small models cannot tell "not about a device" reliably (measured: they pick a
device for "how old is the kitchen light"), so :func:`worth_asking` decides
that first, in plain code: the request must mention a configured device or
area, must not be a question, advice, a story in the past or made-up content,
and must carry a word that asks for a change other than the device's own name
("the lights flickered" asks for nothing) or a state described ("the lights are on").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from appliance.engines.llm.local import Message
from appliance.home.phrases import CLAIMS, GERUNDS, normalize, past_tense
from appliance.settings import HomeDevice

_LOGGER = logging.getLogger(__name__)

QUESTION_WORDS = frozenset(
    {"what", "who", "whom", "whose", "when", "where", "why", "which", "how", "is", "are", "was", "were"}
    | {"what's", "who's", "when's", "where's", "why's", "how's", "whats", "hows", "wheres"}
    | {"do", "does", "did", "has", "have", "tell", "explain", "describe"}
    | {"should", "shall", "let's", "lets", "isn't", "aren't", "wasn't", "weren't", "translate"}
)
REPORTED = frozenset({"said", "says", "told", "tells", "heard", "read", "saw", "watched"})
"""Someone else's words or a story ("my mum said the lights in London are amazing"): conversation."""
MADE_UP = frozenset({"poem", "story", "stories", "song", "songs", "lyrics", "joke", "plan", "recipe", "ideas", "mean"})
"""Content to make up, or words about words ("make up a story about the lamp"): conversation."""
ADVICE = frozenset({"tips", "advice", "idea", "picture", "draw", "paint"})
"""Asking for advice or a picture ("kitchen lights on a budget: any tips?"): conversation."""
HABITS = frozenset({"always", "never", "usually", "often", "sometimes", "yesterday", "ago", "last"})
"""How things tend to be, or were ("the tenant always left the lights on"): conversation."""
MODALS = frozenset({"can", "could", "will", "would"})
"""Open a polite request ("could you …") or, with another subject, a question ("can a lamp …")."""
STATES = frozenset({"is", "are", "was", "were", "'s", "be"})
"""Before "on" or "off", a state described ("the lights are on"), not a wish for a change."""
MAX_WORDS = 16
"""A longer request is a story or a chat, not a wish for one device to change."""
CHANGE_WORDS = frozenset(
    {"dark", "darker", "darken", "dim", "bright", "brighter", "brighten", "light", "lights", "see", "lit", "pitch"}
    | {"hot", "warm", "warmer", "cold", "colder", "cool", "cooler", "freezing", "chilly", "stuffy", "air"}
    | {"noisy", "noise", "loud", "quiet", "sleep", "bed", "bedtime", "leaving", "power", "wasting", "going"}
    | {"start", "stop", "kill", "running", "run", "on", "off", "up", "down", "need", "want", "enough", "more"}
    | {"less", "cut", "rid", "done", "get", "keep", "no"}
)
"""Words that ask for something to change (the gate in front of the model)."""
PHRASING = ("The user wants the ", " switched ")
"""The sentence each candidate call is written as (start, words between device and on/off)."""
MIN_MARGIN = 1.0
"""Nats the best call must lead the runner-up by.

Measured on SmolLM2-135M over 29 labelled requests, with two llama.cpp builds
(AVX2, and AMX whose arithmetic differs): every wrong pick led by 0.71 or less;
at 1.0 it acts on 8 of the benchmark's 18, never wrongly, and asks back on the rest.
"""


class ScoringModel(Protocol):
    def score_continuations(self, messages: list[Message], continuations: list[str]) -> list[float]: ...


@dataclass(frozen=True)
class ToolCall:
    device: HomeDevice
    action: str


def worth_asking(text: str, mentioned: list[HomeDevice]) -> bool:
    """Whether the model should be asked to pick a switch call at all.

    Said as a wish, not as talk: not a question, advice or a suggestion, not someone else's words, no story
    told in the past ("we turned the lights off and left"), nothing made up; naming a device or a room of
    this home (its name, an alias or its area, not only a kind of thing: "lamps are cosy"); and a word
    asking for a change besides the device's own name ("the lights flickered" names a light, it asks
    nothing) and besides a state described ("the lights are on").
    """
    words = normalize(text).split()
    if not mentioned or not words or words[0] in QUESTION_WORDS or len(words) > MAX_WORDS:
        return False
    if words[0] in MODALS and words[1:2] not in (["you"], ["we"], ["i"]):  # "can a lamp start a fire": a question
        return False
    if words[0] in GERUNDS and CLAIMS & set(words):  # "turning the lights off saves money": said about it
        return False
    if (REPORTED | MADE_UP | ADVICE | HABITS) & set(words) or any(map(past_tense, words)):
        return False
    said = f" {' '.join(words)} "
    if not any(f" {normalize(n)} " in said for d in mentioned for n in (d.name, *d.aliases, d.area) if n.strip()):
        return False  # "lamps with warm bulbs feel cosy": a kind of thing, not a device or a room of this home
    named = {w.removesuffix("s") for d in mentioned for n in (d.name, *d.aliases) for w in normalize(n).split()}
    return any(
        w in CHANGE_WORDS
        and w.removesuffix("s") not in named
        and not (w in ("on", "off") and i and words[i - 1] in STATES)
        for i, w in enumerate(words)
    )


def sentence(call: ToolCall) -> str:
    """The reply that makes ``call``."""
    start, middle = PHRASING
    return f"{start}{call.device.name}{middle}{call.action}."


def messages(text: str, devices: list[HomeDevice]) -> list[Message]:
    # Trailing punctuation and a capital first letter swayed the small model's on/off choice
    # (15/20 right with "It's too dark in the kitchen." vs 19/20 without): normalise them away.
    text = text.strip().rstrip(".!?")
    text = text[:1].lower() + text[1:]
    names = ", ".join(d.name for d in devices)
    system = (
        f"You control these home devices: {names}. Decide which device the user wants switched, and whether on or off."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def choose(model: ScoringModel, text: str, devices: list[HomeDevice]) -> ToolCall | None:
    """The allowed call the model clearly prefers, or None (blocking: run it on a worker thread)."""
    calls = [ToolCall(device, action) for device in devices for action in ("on", "off")]
    scores = model.score_continuations(messages(text, devices), [sentence(call) for call in calls])
    ranked = sorted(range(len(calls)), key=scores.__getitem__, reverse=True)
    lead = scores[ranked[0]] - scores[ranked[1]]
    if lead < MIN_MARGIN:
        _LOGGER.info("The model is unsure which device is meant (the first leads by %.2f); asking", lead)
        _LOGGER.debug("Unsure about %r: %r leads", text, sentence(calls[ranked[0]]))  # what was said: DEBUG only
        return None
    return calls[ranked[0]]
