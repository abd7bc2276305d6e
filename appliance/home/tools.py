"""The LLM's tool path: other phrasings ("it's too dark in the kitchen") become an allow-listed switch call.

The model never writes free text here.  Its reply is constrained by a
llama.cpp grammar to exactly ``The user wants the <device> switched <on|off>.``
where ``<device>`` can only be one of the devices the request mentions, so
even a 135M model produces a valid call; the call is parsed and checked
against the allow-list again before anything is published.

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
REPLY = re.compile(r"^The user wants the (?P<device>.+) switched (?P<action>on|off)\.$")


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


def grammar(devices: list[HomeDevice]) -> str:
    """GBNF that admits exactly one sentence per (device, on/off)."""
    names = " | ".join(_literal(d.name) for d in devices)
    return f'root ::= "The user wants the " device " switched " ("on" | "off") "."\ndevice ::= {names}\n'


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def messages(text: str, devices: list[HomeDevice]) -> list[Message]:
    names = ", ".join(d.name for d in devices)
    system = (
        f"You control these home devices: {names}. Decide which device the user wants switched, and whether on or off."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def parse_call(reply: str, allowed: list[HomeDevice]) -> ToolCall | None:
    """The call in the model's reply, only if it names an allowed device and on/off."""
    match = REPLY.match(reply.strip())
    if match is None:
        return None
    by_name = {d.name: d for d in allowed}
    device = by_name.get(match["device"])
    return ToolCall(device, match["action"]) if device is not None else None


def choose(model: ConstrainedModel, text: str, devices: list[HomeDevice]) -> ToolCall | None:
    """Ask the model (blocking: run it on a worker thread)."""
    reply = model.complete_constrained(messages(text, devices), grammar(devices), max_tokens=16 + 8 * len(devices))
    call = parse_call(reply, devices)
    if call is None:
        _LOGGER.warning("The model's tool call %r is not an allowed call; nothing switched", reply)
    return call
