"""How requests are said: cleaning a transcript, names before 'timer', lists of items, 'my' → 'your'."""

from __future__ import annotations

import re

from appliance.skills.numbers import words

_LEADING = re.compile(
    r"^(?:(?:hey|ok|okay|so|um|uh|oh|ah|alright|right|please|jarvis|computer|speaker|assistant|and|now|sorry|"
    r"excuse me)\b\s*|(?:can|could|would|will) (?:you|u) (?:please )?|i (?:want|need|would like|'d like) (?:you )?to |"
    r"i'd like (?:you )?to |go ahead and |just )+"
)
_TRAILING = re.compile(r"(?:\s+(?:and )?(?:please|thanks|thank you|for me|now please|ok|okay|then))+$")
_MISHEARD = (
    (re.compile(r"\btoo (?=\d)"), "to "),  # "turn the volume too 60"
    (re.compile(r"^paws\b"), "pause"),  # "paws the timer", "paws the music"
    (re.compile(r"\bfife (?=(?:minutes?|seconds?|hours?|mins?)\b)"), "five "),  # "a timer for fife minutes"
    # "at eggs to the list", "at two minutes to the timer"
    (re.compile(r"^at (?=.+ (?:to|on|onto) (?:the|my|our) (?:[\w-]+ )?(?:list|timer)$)"), "add "),
)
"""Whisper's usual mishearings of a request's own words, where the rest of the request says which word was meant."""
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "our",
        "your",
        "set",
        "start",
        "create",
        "make",
        "begin",
        "new",
        "another",
        "timer",
        "timers",
        "alarm",
        "alarms",
        "for",
        "of",
        "and",
        "to",
        "on",
        "please",
        "me",
        "up",
        "called",
        "named",
        "start",
        "put",
        "cancel",
        "stop",
        "delete",
        "remove",
        "pause",
        "resume",
        "how",
        "long",
        "is",
        "left",
        "remaining",
        "what's",
        "what",
        "time",
        "much",
        "many",
        "minutes",
        "minute",
        "seconds",
        "second",
        "hours",
        "hour",
        "check",
    ]
)
PERSON = {"my": "your", "i": "you", "i'm": "you're", "me": "you", "mine": "yours", "myself": "yourself",
          "am": "are", "our": "your", "we": "you"}  # fmt: skip


def clean(text: str) -> str:
    """Lower-case words without fillers ('Hey, could you please set a timer?' → 'set a timer')."""
    said = " ".join(words(re.sub(r"(?<!\d),|,(?!\d)", " and ", text)))  # "eggs, bread and cheese": keep the list
    said = _LEADING.sub("", said)
    said = _TRAILING.sub("", said).strip()
    for heard, meant in _MISHEARD:
        said = heard.sub(meant, said)
    return said


def name_before(tokens: list[str], noun: str) -> str:
    """The name said before ``noun`` ('the pasta timer' → 'pasta'), or after 'called'/'named'/'for the'."""
    for marker in ("called", "named", "labelled", "labeled"):
        if marker in tokens:
            rest = tokens[tokens.index(marker) + 1 :]
            for end in ("for", "at", "in", "please"):  # "called bread for 35 minutes"
                rest = rest[: rest.index(end)] if end in rest else rest
            return _trimmed([t for t in rest if t != noun])
    if noun in tokens:
        before = tokens[: tokens.index(noun)]
        name: list[str] = []
        for tok in reversed(before):
            if tok in _STOP or tok[:1].isdigit():
                break
            name.insert(0, tok)
        if name:
            return " ".join(name[-2:])
    for n in range(len(tokens) - 2):
        if tokens[n : n + 2] == ["for", "the"] and n + 2 < len(tokens):
            rest = tokens[n + 2 :]
            for end in ("for", "at", "in", "please"):  # "a timer for the pizza for 15 minutes"
                rest = rest[: rest.index(end)] if end in rest else rest
            return _trimmed([t for t in rest if t != noun])
    return ""


def _trimmed(name: list[str]) -> str:
    """A name without the joining words left at its ends ("the chicken, one hour" → "chicken", not "chicken and")."""
    while name and name[-1] in ("and", "then", "with", "of", "to", "at"):
        name = name[:-1]
    return " ".join(name).strip()


def split_items(text: str) -> list[str]:
    """'eggs, butter and some milk' → ['eggs', 'butter', 'milk']."""
    parts = re.split(r"\s*,\s*|\s+and\s+|\s+&\s+|\s+plus\s+", text)
    out = []
    for part in parts:
        part = re.sub(r"^(?:some|a|an|the|more|also)\s+", "", part.strip())
        if part:
            out.append(part)
    return out


def second_person(text: str) -> str:
    """'call my mum' → 'call your mum' (what the reminder will say)."""
    return " ".join(PERSON.get(word, word) for word in text.split())
