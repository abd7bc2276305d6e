"""The running conversation: the last few exchanges, forgotten after a quiet spell.

Prompt layout (shared with the memory's context builder): the fixed system
prompt, the exchanges so far as plain request/reply pairs, then the new user
message: this turn's notes (the day, the context providers' facts, the mood,
memories), one a line, a blank line, and the request.  What was evaluated for
one turn is then a prefix of the next turn's prompt (but for the previous
notes, which the LLM adapter cuts out of its KV cache), so a turn evaluates
only its own request and notes.

The notes are written to be used, not read out (the reply check,
:mod:`appliance.voice.reply_check`, stops what still is):

- no wrapper or label a reply could open with: with ``(Notes, not from the user: …)``
  SmolLM2-135M began 24 of 76 household replies with "(Note: …";
- the day once, as a date and not a sentence ("Monday 7 December 2026, morning");
- each fact on its own line, as the plain statement it is;
- a past turn as what was asked, never what was replied ("Alarm set for Monday at 7:00 PM"
  came back as the answer to "what's the weekday?").

:func:`prompt_parts` reads a prompt laid out here back into its notes and
earlier turns (for the reply check), :func:`bare_prompt` keeps only the system
prompt and the request (the second try of a reply that failed its check).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from appliance.core.feature import ContextProvider
from appliance.engines.llm.local import Message

NOTES_END = "\n\n"
"""Between this turn's notes and the request (the notes are one a line)."""
PAST_TURN = "you were asked: "
"""How a remembered turn's note reads after its age: "2 hours ago you were asked: set an alarm for 7"."""
_DAY_NOTE = re.compile(r"^[A-Z][a-z]+day \d{1,2} [A-Z][a-z]+ \d{4}, (?:morning|afternoon|evening|night)\.$")
_PAST_TURN = re.compile(r"^(?:just now|\d+ (?:minutes?|hours?|days?) ago) " + PAST_TURN + r"(?P<asked>.+)$")


class MessageSource(Protocol):
    """What the pipeline needs from a conversation: the LLM's messages, and each finished exchange."""

    def messages(self, request: str) -> list[Message]: ...

    def prefix_messages(self) -> list[Message]:
        """What the next prompt starts with (for prefilling the LLM while the user speaks)."""
        ...

    def add(self, user: str, assistant: str) -> None: ...


@dataclass(frozen=True)
class Exchange:
    user: str
    assistant: str
    at: float
    """Unix seconds."""


def note(text: str) -> str:
    """``text`` as one line of the notes: its line breaks (which would end the note) made spaces."""
    return " ".join(text.split())


def notes_opening(notes: Sequence[str]) -> str:
    """The start of :func:`user_turn`'s text that ``notes`` fix, whatever notes and request follow them."""
    return "\n".join(notes)


def user_turn(request: str, notes: Sequence[str]) -> str:
    """The new user message: this turn's notes one a line, a blank line, the request."""
    if not notes:
        return request
    return "\n".join(notes) + NOTES_END + request


@dataclass(frozen=True)
class PromptParts:
    """What a prompt laid out here gave the model besides the system prompt and the request."""

    day: str = ""
    """The day's note, if the prompt has one."""
    notes: list[str] = field(default_factory=list)
    """This turn's notes but the day and the remembered turns."""
    asked: list[str] = field(default_factory=list)
    """Earlier requests: the running conversation's and the remembered turns'."""
    said: list[str] = field(default_factory=list)
    """Earlier replies."""


def prompt_parts(messages: Sequence[Message]) -> PromptParts:
    """``messages`` (laid out by :class:`Conversation` or the memory's context builder) read back into parts."""
    parts, day = PromptParts(), ""
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content", "")
        if role == "assistant":
            parts.said.append(content)
        elif role == "user" and i < len(messages) - 1:
            parts.asked.append(content)
        elif role == "user" and NOTES_END in content:
            for line in content.rsplit(NOTES_END, 1)[0].splitlines():
                if (past := _PAST_TURN.match(line)) is not None:
                    parts.asked.append(past.group("asked"))
                elif _DAY_NOTE.match(line):
                    day = line
                elif line.strip():
                    parts.notes.append(line)
    return PromptParts(day, parts.notes, parts.asked, parts.said)


def bare_prompt(messages: Sequence[Message]) -> list[Message]:
    """The system prompt (if ``messages`` open with one) and the request alone, without notes or history."""
    out = [dict(messages[0])] if messages and messages[0].get("role") == "system" else []
    if messages and messages[-1].get("role") == "user":
        out.append({"role": "user", "content": messages[-1]["content"].rsplit(NOTES_END, 1)[-1]})
    return out


def provided_facts(providers: Sequence[ContextProvider]) -> list[str]:
    """Each provider's current fact (providers with nothing to say are skipped)."""
    return [fact for provide in providers if (fact := provide())]


class Conversation:
    """Builds the LLM's messages: system prompt, recent exchanges, the new request with its notes."""

    def __init__(
        self,
        system_prompt: str,
        *,
        max_turns: int = 4,
        timeout_s: float = 300.0,
        context: list[ContextProvider] | None = None,
    ) -> None:
        self.system_prompt = system_prompt
        self.timeout_s = timeout_s
        self._turns: deque[Exchange] = deque(maxlen=max(max_turns, 1))
        self._keep = max_turns
        self.context: list[ContextProvider] = context if context is not None else []
        """Short facts for the new turn's notes, asked for at every request (e.g. vision's presence summary);
        one list the app shares with the memory, so both prompts say the same."""

    def add(self, user: str, assistant: str, *, now: float | None = None) -> None:
        if self._keep and user and assistant:
            self._turns.append(Exchange(user, assistant, time.time() if now is None else now))

    def recent(self, *, now: float | None = None) -> list[Exchange]:
        now = time.time() if now is None else now
        if self._turns and self.timeout_s and now - self._turns[-1].at > self.timeout_s:
            self._turns.clear()
        return list(self._turns)

    def system(self) -> str:
        """The fixed system prompt (the per-turn facts go into the user turn's notes)."""
        return self.system_prompt.strip()

    def prefix_messages(self, *, now: float | None = None) -> list[Message]:
        """What every next prompt starts with (system prompt and exchanges): for prefilling the LLM."""
        system = self.system()
        out: list[Message] = [{"role": "system", "content": system}] if system else []
        for exchange in self.recent(now=now):
            out.append({"role": "user", "content": exchange.user})
            out.append({"role": "assistant", "content": exchange.assistant})
        return out

    def messages(self, request: str, *, now: float | None = None) -> list[Message]:
        out = self.prefix_messages(now=now)
        out.append({"role": "user", "content": user_turn(request, [note(f) for f in provided_facts(self.context)])})
        return out

    def user_opening(self) -> str:
        """How the next user message starts, as far as it is known before the request (for prefilling)."""
        return notes_opening([note(f) for f in provided_facts(self.context)])

    def clear(self) -> None:
        self._turns.clear()
