"""The running conversation: the last few exchanges, forgotten after a quiet spell."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .llm import Message


class MessageSource(Protocol):
    """What the pipeline needs from a conversation: the LLM's messages, and each finished exchange."""

    def messages(self, request: str) -> list[Message]: ...

    def add(self, user: str, assistant: str) -> None: ...


@dataclass(frozen=True)
class Exchange:
    user: str
    assistant: str
    at: float
    """Unix seconds."""


class Conversation:
    """Builds the LLM's messages: system prompt, recent exchanges, the new request."""

    def __init__(self, system_prompt: str, *, max_turns: int = 4, timeout_s: float = 300.0) -> None:
        self.system_prompt = system_prompt
        self.timeout_s = timeout_s
        self._turns: deque[Exchange] = deque(maxlen=max(max_turns, 1))
        self._keep = max_turns
        self.context: list[Callable[[], str | None]] = []
        """Short facts for the system prompt, asked for at every request (e.g. vision's presence summary)."""

    def add(self, user: str, assistant: str, *, now: float | None = None) -> None:
        if self._keep and user and assistant:
            self._turns.append(Exchange(user, assistant, time.time() if now is None else now))

    def recent(self, *, now: float | None = None) -> list[Exchange]:
        now = time.time() if now is None else now
        if self._turns and self.timeout_s and now - self._turns[-1].at > self.timeout_s:
            self._turns.clear()
        return list(self._turns)

    def system(self) -> str:
        """The system prompt followed by the current context facts."""
        facts = [fact for provide in self.context if (fact := provide())]
        return "\n".join([self.system_prompt, *facts]).strip()

    def messages(self, request: str, *, now: float | None = None) -> list[Message]:
        system = self.system()
        out: list[Message] = [{"role": "system", "content": system}] if system else []
        for exchange in self.recent(now=now):
            out.append({"role": "user", "content": exchange.user})
            out.append({"role": "assistant", "content": exchange.assistant})
        out.append({"role": "user", "content": request})
        return out

    def clear(self) -> None:
        self._turns.clear()
