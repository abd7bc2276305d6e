"""The LLM's tool path: other phrasings ("it's too dark in the kitchen") become an allow-listed switch call.

The model never writes free text here.  Its reply is constrained by a
llama.cpp grammar to exactly one sentence such as ``The user wants the
<device> switched <on|off>.`` where ``<device>`` can only be one of the
devices the request mentions, so even a 135M model produces a valid call;
the call is parsed and checked against the allow-list again before anything
is published.  The model is asked twice, in two phrasings, and only a call
both agree on is carried out: on the benchmark's 18 labelled requests
SmolLM2-135M acted on 15, none of them wrongly, and asked back on 3
(``appliance bench --only mqtt``, "tool_path").

Small models cannot tell "not about a device" reliably (measured: they pick a
device for "how old is the kitchen light"), so :func:`worth_asking` decides
that first, in plain code: the request must mention a configured device or
area, must not be a question, and must carry a word that asks for a change.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from ..llm import Message
from ..settings import HomeDevice
from .phrases import normalize

_LOGGER = logging.getLogger(__name__)

QUESTION_WORDS = frozenset(
    {"what", "who", "whom", "whose", "when", "where", "why", "which", "how", "is", "are", "was", "were"}
    | {"do", "does", "did", "has", "have", "tell", "explain", "describe"}
)
CHANGE_WORDS = frozenset(
    {"dark", "darker", "darken", "dim", "bright", "brighter", "brighten", "light", "lights", "see", "lit"}
    | {"hot", "warm", "warmer", "cold", "colder", "cool", "cooler", "freezing", "chilly", "stuffy", "air"}
    | {"noisy", "noise", "loud", "quiet", "sleep", "bed", "bedtime", "leaving", "power", "wasting", "going"}
    | {"start", "stop", "kill", "running", "run", "on", "off", "up", "down", "need", "want", "enough", "more"}
    | {"less", "cut", "rid", "done", "make", "get", "keep", "no"}
)
"""Words that ask for something to change (the gate in front of the model)."""
PHRASINGS = (
    ("The user wants the ", " switched "),
    ("So the ", " should be switched "),
)
"""Two framings of the same decision (sentence start, words between device and on/off)."""


class ConstrainedModel(Protocol):
    def complete_constrained(self, messages: list[Message], grammar: str, *, max_tokens: int = 32) -> str: ...


@dataclass(frozen=True)
class ToolCall:
    device: HomeDevice
    action: str


def worth_asking(text: str, mentioned: list[HomeDevice]) -> bool:
    """Whether the model should be asked to pick a switch call at all."""
    words = normalize(text).split()
    if not mentioned or not words or words[0] in QUESTION_WORDS:
        return False
    return any(w in CHANGE_WORDS for w in words)


def grammar(devices: list[HomeDevice], phrasing: tuple[str, str] = PHRASINGS[0]) -> str:
    """GBNF that admits exactly one sentence per (device, on/off)."""
    names = " | ".join(_literal(d.name) for d in devices)
    start, middle = (_literal(part) for part in phrasing)
    return f'root ::= {start} device {middle} ("on" | "off") "."\ndevice ::= {names}\n'


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


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


def parse_call(reply: str, allowed: list[HomeDevice], phrasing: tuple[str, str] = PHRASINGS[0]) -> ToolCall | None:
    """The call in the model's reply, only if it names an allowed device and on/off."""
    start, middle = (re.escape(part) for part in phrasing)
    match = re.fullmatch(f"{start}(?P<device>.+){middle}(?P<action>on|off)\\.", reply.strip())
    if match is None:
        return None
    by_name = {d.name: d for d in allowed}
    device = by_name.get(match["device"])
    return ToolCall(device, match["action"]) if device is not None else None


def choose(model: ConstrainedModel, text: str, devices: list[HomeDevice]) -> ToolCall | None:
    """The call both phrasings agree on, or None (blocking: run it on a worker thread)."""
    calls = []
    for phrasing in PHRASINGS:
        reply = model.complete_constrained(
            messages(text, devices), grammar(devices, phrasing), max_tokens=16 + 8 * len(devices)
        )
        calls.append(parse_call(reply, devices, phrasing))
        if calls[-1] is None:
            _LOGGER.warning("The model's tool call %r is not an allowed call; nothing switched", reply)
            return None
    if len(set(calls)) != 1:
        _LOGGER.info("The model is unsure about %r (%s); asking instead of switching", text, calls)
        return None
    return calls[0]
