"""Does a transcript stop mid-sentence?  The words a request cannot end on.

The turn model (:mod:`appliance.engines.smart_turn`) hears how a pause sounds; it
is fooled by a speaker who stops on a level pitch after "of" or "the" to
think (on the endpoint bench's real recordings it judged "It was the age
of" finished at 0.85).  The speculative transcript of the same audio is
ready moments later, and its last word settles most of those: an English
request does not end on an article, a conjunction or a filler, and rarely
on a preposition unless it is a verb's particle ("turn the light on").

A false "unfinished" costs only time (the pause waits up to
``vad.end_silence_max_s``); a false "finished" cuts the speaker off, so the
lists lean towards waiting.
"""

from __future__ import annotations

import re

NEVER_LAST = frozenset(
    {
        *("a", "an", "the", "my", "your", "our", "their", "its", "this", "these", "those", "every", "each"),
        *("and", "or", "but", "nor", "because", "than", "if", "whether", "although", "though", "unless"),
        *("um", "uh", "er", "erm", "uhm", "hmm", "mm"),
    }
)
"""Words that leave the request open wherever they stand."""
PREPOSITIONS = frozenset(
    {"of", "to", "in", "on", "at", "for", "with", "from", "by", "into", "onto", "about", "like", "between"}
)
"""Open unless a phrasal verb earlier in the request takes them as its particle."""
PARTICLE_VERBS = frozenset(
    {
        *("turn", "turned", "switch", "switched", "put", "log", "sign", "plug", "plugged", "carry", "go"),
        *("come", "hold", "keep", "move", "get", "look", "looking", "think", "thinking", "listen", "talk"),
        *("talking", "made", "belong", "belongs", "waiting", "wait", "pay", "paying", "cooking", "asking"),
    }
)
"""A preposition at the end is this verb's particle or object slot ("what is it made of", "who is it for")."""
OPEN_AFTER_BE = frozenset({"so", "very", "too", "quite", "really", "more", "less", "most"})
"""Open after a form of "be" ("it was so ...", "the period was so far like ...")."""
BE = frozenset({"is", "was", "are", "were", "be", "been", "am", "it's", "that's", "i'm", "you're", "we're"})
_WORDS = re.compile(r"[a-z']+")


def unfinished(transcript: str) -> bool:
    """The transcript stops where a request cannot end: it trails off ("...") or its last word leaves it open."""
    text = transcript.strip().lower().replace("’", "'")
    if not text:
        return False
    if text.endswith(("...", "…")):
        return True
    words = _WORDS.findall(text)
    if not words:
        return False
    last = words[-1]
    if last in NEVER_LAST:
        return True
    if last in PREPOSITIONS:
        return not any(w in PARTICLE_VERBS for w in words[:-1])
    if last in OPEN_AFTER_BE:
        return len(words) > 1 and words[-2] in BE
    return False
