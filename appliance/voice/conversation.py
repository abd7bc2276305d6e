"""The running conversation: the last few exchanges, forgotten after a quiet spell.

Prompt layout (shared with the memory's context builder): the fixed system
prompt, the exchanges so far as plain request/reply pairs, then the new
request with this turn's notes (time, presence, emotion, memories) inside the
same user message.  What was evaluated for one turn is then a prefix of the
next turn's prompt (but for the previous notes, which the LLM adapter cuts out
of its KV cache), so a turn evaluates only its own request and notes.  Notes
are quoted and labelled as information, so remembered text cannot act as an
instruction.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from appliance.core.feature import ContextProvider
from appliance.engines.llm.local import Message

NOTES_OPEN = "(Notes, not from the user: "
"""How this turn's notes start; they end with ")" and a blank line before the request.

One parenthesised paragraph, measured on the household Q&A set (``appliance bench --only
quality``, SmolLM2-135M, greedy): 71.9 % right, against 64.9 % for a bulleted list under a
heading (the model went on writing bullets and the time) and 67.5 % for the old separate system
message."""


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


def quoted(text: str) -> str:
    """``text`` in double quotes, with its own double quotes made single (they could end the quote)."""
    return '"' + text.strip().replace('"', "'") + '"'


def notes_opening(notes: Sequence[str]) -> str:
    """The start of :func:`user_turn`'s text that ``notes`` fix, whatever notes and request follow them."""
    return f"{NOTES_OPEN}{' '.join(notes)}" if notes else ""


def user_turn(request: str, notes: Sequence[str]) -> str:
    """The new user message: this turn's notes in one parenthesised paragraph, a blank line, the request."""
    if not notes:
        return request
    return f"{NOTES_OPEN}{' '.join(notes)})\n\n{request}"


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
        out.append({"role": "user", "content": user_turn(request, [quoted(f) for f in provided_facts(self.context)])})
        return out

    def user_opening(self) -> str:
        """How the next user message starts, as far as it is known before the request (for prefilling)."""
        return notes_opening([quoted(f) for f in provided_facts(self.context)])

    def clear(self) -> None:
        self._turns.clear()
