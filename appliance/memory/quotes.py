"""What quotes a forgotten fact: the rule that decides which stored turns and events go with it.

A turn whose vector looks like the fact is not enough: "what do you remember about the garage
safe" reads little like "The garage safe code is CANARYZEBRA 4417", yet its reply says the code
word for word, and the LLM would repeat it from there.  So a text quotes a fact when, read as
words (lower case, possessive endings and "my"/"your" set aside, stop words skipped), it has

- two of the fact's content words in a row, in the fact's order ("safe code", "canaryzebra 4417";
  a fact of one content word: that word), or
- one of the fact's marked words: a number of three characters or more ("4417", "3:30"; not the
  "3" of "at 3") or a word the fact writes in capitals ("CANARYZEBRA"; a fact all in capitals
  marks none this way).

The rule errs towards deleting: "forget the garage safe code" also takes "what's in the garage
safe?".  A lost line of the turn log is cheap; a secret still answerable after "forget" is not.
Facts are never deleted by this rule, only by the forget's own choice: each was asked for.

Pure text, no I/O: the store's writer applies it to the rows (see :func:`records.forget_items`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.memory.answer import STOP_WORDS, words

QUOTE_RUN = 2
"""Content words of the fact in a row that make a quote."""
MIN_NUMBER_CHARS = 3
"""A number at least this long is marked on its own: codes and PINs, not hours."""
OWNED = frozenset({"my", "your", "our", "mine", "yours", "ours", "i'm", "you're", "we're"})
"""Said back in the other person ("my code" → "your code"): they tell nothing about the fact."""
_CAPITALS = re.compile(r"\b[A-Z][A-Z0-9]{2,}\b")


def _content(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOP_WORDS and w not in OWNED]


@dataclass(frozen=True)
class FactMarks:
    """What of a fact gives away a quote of it: its runs of content words and its marked words."""

    runs: frozenset[tuple[str, ...]]
    """Every QUOTE_RUN content words in a row (all of them when the fact has fewer)."""
    marked: frozenset[str]

    @classmethod
    def of(cls, fact: str) -> FactMarks:
        content = _content(fact)
        size = min(QUOTE_RUN, len(content))
        runs = {tuple(content[i : i + size]) for i in range(len(content) - size + 1)} if size else set()
        marked = {w for w in content if len(w) >= MIN_NUMBER_CHARS and any(c.isdigit() for c in w)}
        if any(c.islower() for c in fact):
            marked |= {w for found in _CAPITALS.findall(fact) for w in words(found)}
        return cls(frozenset(runs), frozenset(marked.intersection(content)))

    @property
    def keys(self) -> frozenset[str]:
        """Words one of which any quoting text contains (a cheap first filter over many rows)."""
        return self.marked.union(*self.runs)

    def quoted_in(self, text: str) -> bool:
        """True if ``text`` quotes the fact (see the module's rule)."""
        content = _content(text)
        if self.marked.intersection(content):
            return True
        sizes = {len(run) for run in self.runs}
        return any(tuple(content[i : i + n]) in self.runs for n in sizes for i in range(len(content) - n + 1))


def quotes_any(text: str, facts: list[FactMarks]) -> bool:
    """True if ``text`` quotes one of ``facts``; a text without any of their words is passed over at once."""
    low = text.lower().replace("’", "'")
    return any(any(k in low for k in f.keys) and f.quoted_in(text) for f in facts)
