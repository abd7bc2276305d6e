"""What the reply path does with the reply check: a second try without the notes, the give-up, the counts.

:mod:`appliance.voice.reply_check` judges a piece of a reply; a :class:`ReplyChecker`
makes that judge for each reply from its prompt, in the appliance's time zone
(:func:`zone_clock`), and counts what became of the replies (``status``'s
``reply_check``, the ``appliance_reply_checks`` metrics).  The reply path itself
is :meth:`appliance.voice.reply.ReplyAttempt._write`; :func:`checked_reply` does
the same to a whole reply for the benchmarks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.core.chunker import SentenceChunker
from appliance.engines.llm.protocol import Message
from appliance.voice.conversation import bare_prompt, prompt_parts
from appliance.voice.reply_check import REASONS, CheckContext, ReplyCheck, first_failure

_LOGGER = logging.getLogger(__name__)

DIDNT_CATCH = "Sorry, I didn't catch that."
"""What is said when the reply generated again without the notes fails its check too."""


@dataclass
class CheckCounts:
    """What the reply check did since start-up (``status``'s ``reply_check``, the metrics)."""

    checked: int = 0
    """LLM replies checked."""
    rewritten: int = 0
    """Replies whose first piece failed: generated again without the notes."""
    gave_up: int = 0
    """…and failed again: :data:`DIDNT_CATCH` was said instead."""
    trimmed: int = 0
    """Replies a later piece of which failed: they ended before it."""
    reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    """Failed pieces by rule (a rewritten reply that failed again counts twice)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "rewritten": self.rewritten,
            "gave_up": self.gave_up,
            "trimmed": self.trimmed,
            "reasons": dict(self.reasons),
        }


class ReplyChecker:
    """Makes each reply's :class:`ReplyCheck` from its prompt and counts the outcomes."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self.clock = clock
        """Now, in the appliance's zone (:func:`zone_clock`)."""
        self.counts = CheckCounts()

    def begin(self, request: str, messages: Sequence[Message]) -> ReplyCheck:
        """The check of the reply to ``messages`` (what their notes and earlier turns are: :func:`prompt_parts`)."""
        parts = prompt_parts(messages)
        return ReplyCheck(
            CheckContext(request, self.clock(), notes=parts.notes, day=parts.day, asked=parts.asked, said=parts.said)
        )

    @staticmethod
    def without_notes(messages: Sequence[Message]) -> list[Message]:
        """The prompt of the second try: the system prompt and the request alone."""
        return bare_prompt(messages)

    def record(self, failed: tuple[str, int] | None, *, retried: bool, again: tuple[str, int] | None = None) -> str:
        """Count one checked reply (``failed``: the first try's (reason, pieces said before it), ``again``: the
        second's); returns what happened, for the turn's record.  Reasons are logged, never the words."""
        c = self.counts
        c.checked += 1
        if failed is None:
            _LOGGER.debug("Reply check: passed")
            return "passed"
        c.reasons[failed[0]] += 1
        if not retried:
            c.trimmed += 1
            _LOGGER.info("Reply check: %s after %d pieces; the reply ends there", failed[0], failed[1])
            return "trimmed"
        c.rewritten += 1
        if again is not None:
            c.reasons[again[0]] += 1
        if again is not None and not again[1]:
            c.gave_up += 1
            _LOGGER.info("Reply check: %s, and %s without the notes; saying it was not caught", failed[0], again[0])
            return "gave-up"
        if again is not None:
            c.trimmed += 1
        _LOGGER.info("Reply check: %s; generated again without the notes", failed[0])
        return "rewritten"


def zone_clock(zone: str = "") -> Callable[[], dt.datetime]:
    """Now in ``zone`` (an IANA name; empty or unknown: the device's own zone)."""
    tz: dt.tzinfo | None = None
    if zone:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            _LOGGER.warning("Reply check: unknown time zone %r; using the device's", zone)
    return lambda: dt.datetime.now(tz) if tz is not None else dt.datetime.now().astimezone()


def checked_reply(
    checker: ReplyChecker,
    request: str,
    messages: list[Message],
    generate: Callable[[list[Message]], str],
    first_chunk_chars: int = 0,
) -> str:
    """A whole reply as the reply path would have spoken it (for the benchmarks): ``generate`` writes it
    (blocking), each piece is checked, the reply is generated again without the notes when its first piece
    fails, and ends before a later piece that fails; counted in ``checker``."""

    def spoken(text: str, found: tuple[str, int] | None) -> str:
        chunker = SentenceChunker(first_chunk_chars)
        pieces = chunker.push(text)
        if (rest := chunker.flush()) is not None:
            pieces.append(rest)
        return " ".join(pieces if found is None else pieces[: found[1]])

    text = generate(messages)
    failed = first_failure(checker.begin(request, messages), text, first_chunk_chars)
    if failed is None or failed[1]:
        checker.record(failed, retried=False)
        return spoken(text, failed)
    bare = checker.without_notes(messages)
    text = generate(bare)
    again = first_failure(checker.begin(request, bare), text, first_chunk_chars)
    checker.record(failed, retried=True, again=again)
    return DIDNT_CATCH if again is not None and not again[1] else spoken(text, again)
