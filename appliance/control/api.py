"""The narrow interface the command layer drives: what a running appliance lets commands do.

``Commands``, the control socket, GPIO, debug hooks and feature command
handlers see only this protocol, never the composition root, so each can be
tested against a small typed fake (``tests/fakes.FakeControl``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class TurnResult:
    """What a command-started turn came to."""

    turn_id: int
    outcome: str
    """An :class:`appliance.voice.turn_record.Outcome` value: answered, interrupted, failed, …"""
    transcript: str = ""
    reply: str = ""
    intent: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ControlApi(Protocol):
    """State and actions of the running appliance, as commands see them."""

    @property
    def muted(self) -> bool: ...

    def set_muted(self, muted: bool) -> None: ...

    @property
    def volume(self) -> int: ...

    def set_volume(self, level: int) -> None: ...

    @property
    def wake_words(self) -> tuple[str, ...]: ...

    @property
    def available_wake_words(self) -> tuple[str, ...]: ...

    async def set_wake_words(self, names: tuple[str, ...]) -> None: ...

    @property
    def sensitivity(self) -> float: ...

    def set_sensitivity(self, value: float) -> None: ...

    async def say(self, text: str) -> TurnResult: ...

    async def ask(self, text: str, *, speak: bool = True) -> TurnResult: ...

    async def listen(self, *, source: str = "listen") -> int:
        """Start capturing a request as if the wake word was heard; returns the turn id."""
        ...

    async def stop(self) -> bool:
        """Interrupt whatever is speaking or listening (and any ringing); True if something was."""
        ...

    async def reload(self) -> dict[str, Any]: ...

    def request_restart(self) -> None: ...

    def status(self) -> dict[str, Any]: ...
