"""The one protocol every feature (memory, vision, home control, MQTT, GPIO, skills, …) plugs in by.

A feature is built from settings in its own package and contributes what it
has; the composition root (``app.py``) only collects the parts, starts the
loops, watches them and stops them, and calls ``apply`` on ``reload``.
Every method has an empty default, so a feature overrides only its own parts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    import numpy as np

    from appliance.control.commands import Guard, Handler
    from appliance.settings import Settings
    from appliance.voice.conversation import MessageSource
    from appliance.voice.messages import WakeHeard
    from appliance.voice.reply import IntentMatcher
    from appliance.voice.turn_record import TurnRecord

ContextProvider = Callable[[], "str | None"]
"""A short fact for the LLM's context, asked for at every request ("Someone is in view.")."""
Loop = Callable[[], Awaitable[None]]
"""A long-running coroutine the supervisor starts, restarts with back-off, and watches."""


class Feature:
    """One capability's contribution to the running daemon."""

    name = "feature"
    """Key for status, logs and loop names."""

    def intents(self) -> Sequence[IntentMatcher]:
        """Local requests it answers before the LLM (checked in feature order)."""
        return ()

    def commands(self) -> Mapping[str, Handler]:
        """Commands it adds to the command layer (socket, MQTT, CLI)."""
        return {}

    def guards(self) -> Mapping[str, Guard]:
        """Checks run before a command (the mute lock, the camera switch); raise CommandError to refuse."""
        return {}

    def loops(self) -> Mapping[str, Loop]:
        """Supervised loops by name."""
        return {}

    def vital_loops(self) -> Sequence[str]:
        """Loops whose death means the daemon is not responding (liveness, watchdog)."""
        return ()

    def context(self) -> Sequence[ContextProvider]:
        """Facts for the LLM's context, read by the conversation and the memory alike."""
        return ()

    def retained(self) -> Mapping[str, str]:
        """Retained broker state it keeps current (``state/<key>`` → JSON), re-sent on every connect.

        Changes go out as :class:`~appliance.core.events.RetainedState` events.
        """
        return {}

    def status(self) -> Mapping[str, Any] | None:
        """Its part of ``status`` (under :attr:`name`), or None to show nothing."""
        return None

    def conversation(self) -> MessageSource | None:
        """A conversation that replaces the plain running one (the memory's), or None."""
        return None

    def on_utterance(self, audio: np.ndarray) -> None:
        """Called on the event loop with a request's audio as its transcription starts; must return at once."""

    def elect(self, wake: WakeHeard) -> asyncio.Future[bool] | None:
        """Hold an election for a wake word other appliances may have heard (rooms): see
        :class:`~appliance.voice.arbiter.WakeArbiter`; None to let this appliance answer alone."""
        return None

    def on_turn_finished(self, record: TurnRecord) -> None:
        """Called on the event loop after every turn; must return at once."""

    async def start(self) -> None:
        """Open what it needs; called before any loop starts."""

    async def stop(self) -> None:
        """Release what it holds; called after the loops stopped, in reverse order."""

    def apply(self, settings: Settings) -> list[str]:
        """Take what it can of reloaded settings live; returns the sections it applied."""
        return []
