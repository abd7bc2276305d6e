"""Questions a remembered fact answers word for word: "When is Anna's birthday?" → the fact itself.

A small LLM given "Anna's birthday is on the twelfth of March." as a note can
still say "the thirteenth", or, with the day in its notes, "It is 3 December
2026."  When a question's every content word is in one remembered fact, that
fact is the answer: it is said as stored (in the second person), exactly, and
without waiting for the LLM.  Anything less certain is left to the LLM, which
sees the same fact in its notes.

Pure text: the caller supplies the retrieved hits, best first.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # records (via quotes) uses these words; retrieval imports records
    from appliance.memory.retrieval import Hit

QUESTION_WORDS = frozenset(
    {
        *("when", "where", "what", "who", "whom", "whose", "which", "how"),
        *("is", "are", "was", "were", "do", "does", "did", "can", "could", "will", "would", "has", "have", "had"),
    }
)
STOP_WORDS = QUESTION_WORDS | frozenset(
    {
        *("a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "by", "with", "from", "about", "as"),
        *("it", "its", "he", "she", "they", "them", "him", "her", "his", "their", "there", "here", "this", "that"),
        *("these", "those", "i", "me", "you", "we", "us", "be", "been", "tell", "please", "again", "now", "then"),
        *("hey", "jarvis", "so", "um", "uh", "okay", "ok", "oh", "well", "remind", "know", "remember"),
    }
)
_WORD = re.compile(r"[a-z0-9]+(?:[':.][a-z0-9]+)*")
_SUFFIX = re.compile(r"'(?:s|re|ll|ve|d)$|'$")
MAX_EXTRA_CHARS = 2
"""A question word may be this much shorter than the fact's ("Ann" heard for "Anna's", "land" for
"lands"), not more: "key" must not find "keyboard"."""
PERSON = {"my": "your", "i": "you", "i'm": "you're", "me": "you", "mine": "yours", "myself": "yourself", "am": "are"}
PERSON.update({"our": "your", "we": "you", "us": "you", "ours": "yours"})


def words(text: str) -> list[str]:
    """Lower-case words, possessive and contracted endings off: "Where's Anna's key?" → where, anna, key."""
    return [_SUFFIX.sub("", w) for w in _WORD.findall(text.lower().replace("’", "'"))]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOP_WORDS]


def is_question(text: str) -> bool:
    said = words(text)
    return bool(said) and (text.rstrip().endswith("?") or said[0] in QUESTION_WORDS)


def _found(word: str, fact: frozenset[str]) -> bool:
    if word in fact:
        return True
    return len(word) >= 3 and any(f.startswith(word) and len(f) - len(word) <= MAX_EXTRA_CHARS for f in fact)


def second_person(text: str) -> str:
    """How the household's own words are said back: 'my dentist appointment' → 'your dentist appointment',
    'My sister and I …' → 'Your sister and you …' (a capital first letter stays one)."""
    said = " ".join(PERSON.get(w.lower(), w) for w in text.split())
    return said[:1].upper() + said[1:] if text[:1].isupper() else said


OWNERS = frozenset({"my", "our"})
"""'my birthday' must be 'my birthday' in the fact too, not 'my boss's birthday'."""


def _owned(need: Sequence[str], fact: Sequence[str]) -> bool:
    """Every 'my X' of the question is 'my X' in the fact (word after word, its content words)."""
    for i, word in enumerate(need[:-1]):
        if word in OWNERS:
            thing = need[i + 1]
            if not any(f == word and _found(thing, frozenset({g})) for f, g in itertools.pairwise(fact)):
                return False
    return True


def fact_answer(question: str, hits: Sequence[Hit], min_similarity: float = 0.0) -> str | None:
    """The remembered fact that answers ``question`` word for word, said back, or None (the LLM answers).

    The question must read as one, with two content words or more ("What is
    an umbrella for?" has one: the fact "You left your umbrella in the
    bedroom" does not answer it); every one must be in the fact, a 'my X' as
    'my X'; the fact must not be a question itself and must be as similar as
    ``min_similarity``.  The first such fact in ``hits`` (best first) wins.
    """
    if not is_question(question):
        return None
    need = content_words(question)
    if len(need) < 2 or not any(len(w) >= 3 for w in need):
        return None
    for hit in hits:
        if hit.kind != "fact" or hit.semantic < min_similarity or is_question(hit.text):
            continue
        fact = frozenset(words(hit.text))
        if all(_found(w, fact) for w in need) and _owned(need, content_words(hit.text)):
            said = second_person(hit.text.strip())
            said = said[:1].upper() + said[1:]
            return said if said.endswith((".", "!", "?")) else said + "."
    return None
