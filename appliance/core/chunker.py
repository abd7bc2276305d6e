"""Sentence chunking of a streaming LLM reply, so speech starts with the first sentence.

Pure text processing: tokens in, speakable chunks out.  The first chunk may
end at a clause (comma, semicolon, colon) once it is long enough, because
the listener waits for it; later chunks end at sentences.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    {
        *("mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "approx"),
        *("dept", "est", "fig", "inc", "ltd", "no", "vol", "mt", "ave"),
    }
)
SENTENCE_END = ".!?…"
CLAUSE_END = ",;:"
MAX_CHUNK_CHARS = 240
PHRASE_SLACK = 16
"""A first sentence this much longer than ``first_chunk_chars`` with no comma is split at a phrase."""
PHRASE_STARTS = frozenset(
    {
        *("in", "on", "at", "with", "from", "of", "to", "for", "by", "about", "after", "before", "during"),
        *("because", "which", "that", "who", "where", "when", "and", "but", "or", "so"),
    }
)
SYNTH_MAX_CHARS = 72
"""Longest text Piper is given in one inference.  Its memory grows with the sentence (the VITS
decoder's buffers scale with the audio): measured with the default voice after warm-up, +37 MB for
30 characters, +88 MB for 60, +166 MB for 100, +370 MB for 240.  A rambling 240-character reply
took the session's VmHWM from 760 to 1,116 MB.  Most reply sentences are shorter than this ("There
are approximately 8.5 million people living in Paris." is 59); longer ones split at a clause."""
_MARKUP = re.compile(r"[*_`#>|~]+|\[(?:[^\]]*)\]\((?:[^)]*)\)")
_SPACES = re.compile(r"\s+")


def plain_text(text: str) -> str:
    """Lower case, single spaces: how texts are compared for repeats (a copied reply, a sentence said twice)."""
    return " ".join(text.lower().split())


def speakable(text: str) -> str:
    """Strip markdown and emoji that a voice would read out or choke on."""
    text = _MARKUP.sub(" ", text)
    text = "".join(ch for ch in text if ord(ch) < 0x2190 or ch in "…")
    return _SPACES.sub(" ", text).strip()


def split_for_speech(text: str, max_chars: int = SYNTH_MAX_CHARS) -> list[str]:
    """``text`` in pieces of at most ``max_chars`` (one word longer than that stays whole).

    Each piece ends at the last sentence end that fits, else the last clause
    end (comma, semicolon, colon) past a third of the limit, else before the
    last phrase-starting word, else at the last space: where a speaker could
    take a breath.
    """
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > max_chars:
        cut = _breath_cut(rest, max_chars)
        piece, rest = rest[:cut].strip(), rest[cut:].strip()
        if piece:
            pieces.append(piece)
    if rest:
        pieces.append(rest)
    return pieces


def _breath_cut(text: str, max_chars: int) -> int:
    head = text[: max_chars + 1]
    floor = max_chars // 3
    for marks in (SENTENCE_END, CLAUSE_END):
        best = max((i for i, ch in enumerate(head[:-1]) if ch in marks and head[i + 1].isspace()), default=-1)
        if best >= floor:
            return best + 1
    starts = [m.start() for m in re.finditer(r"\S+", head) if m.group().lower() in PHRASE_STARTS and m.start() >= floor]
    if starts:
        return starts[-1]
    space = head.rfind(" ")
    if space > 0:
        return space
    space = text.find(" ")
    return space if space > 0 else len(text)


class SentenceChunker:
    """Accumulate streamed text and emit sentences (and an early first clause)."""

    def __init__(self, first_chunk_chars: int = 24, max_chars: int = MAX_CHUNK_CHARS, *, hold_chars: int = 0) -> None:
        self.first_chunk_chars = first_chunk_chars
        self.max_chars = max_chars
        self.hold_chars = hold_chars
        """Emit nothing until this much text exists (models Home Assistant's ~60-character start)."""
        self._seen = 0
        self._buffer = ""
        self.emitted = 0

    def push(self, text: str) -> list[str]:
        """Add streamed text; return the chunks that are complete now."""
        self._buffer += text
        self._seen += len(text)
        chunks: list[str] = []
        if self._seen < self.hold_chars:
            return chunks
        while (cut := self._find_cut()) is not None:
            chunk, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:].lstrip()
            if chunk:
                chunks.append(chunk)
                self.emitted += 1
        return chunks

    def flush(self) -> str | None:
        """The remaining text at the end of the reply."""
        rest, self._buffer = self._buffer.strip(), ""
        if rest:
            self.emitted += 1
            return rest
        return None

    def _find_cut(self) -> int | None:
        text = self._buffer
        for i, ch in enumerate(text[:-1]):
            if ch in SENTENCE_END and text[i + 1].isspace() and not self._is_abbreviation(text, i):
                return i + 1
        if self.emitted == 0 and self.first_chunk_chars:
            cut = self._clause_cut(text)
            if cut is None and len(text) >= self.first_chunk_chars + PHRASE_SLACK:
                cut = self._phrase_cut(text)
            if cut is not None:
                return cut
        if len(text) > self.max_chars:
            space = text.rfind(" ", 0, self.max_chars)
            return space if space > 0 else self.max_chars
        return None

    def _clause_cut(self, text: str) -> int | None:
        for i in range(self.first_chunk_chars, len(text) - 1):
            if text[i] in CLAUSE_END and text[i + 1].isspace() and not text[i - 1].isdigit():
                return i + 1
        return None

    def _phrase_cut(self, text: str) -> int | None:
        """A long first sentence is split before a word that starts a phrase ("… AM | in the …")."""
        words = list(re.finditer(r"\S+", text))
        for word in words[1:-1]:  # the last word may still be growing
            if word.start() >= self.first_chunk_chars and word.group().lower() in PHRASE_STARTS:
                return word.start()
        return None

    @staticmethod
    def _is_abbreviation(text: str, dot: int) -> bool:
        if text[dot] != ".":
            return False
        start = dot
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        word = text[start:dot].lower().strip("(\"'")
        if word in ABBREVIATIONS or "." in word:  # "e.g.", "U.S."
            return True
        # Single letters ("J. Smith", "U.S.") are initials, not sentence ends.
        letters = word.replace(".", "")
        return len(letters) == 1 and letters.isalpha() and letters not in ("i", "a")
