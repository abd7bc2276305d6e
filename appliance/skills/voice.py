"""What every skill intent shares: the ports it acts through and how an action turns into speech."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.skills.engine import Skills
from appliance.skills.errors import SkillError
from appliance.skills.settings import SkillsSettings
from appliance.voice.reply import Intent

_LOGGER = logging.getLogger(__name__)

NOT_HOW_LONG = "I didn't catch how long."
NOT_WHEN = "I didn't catch when."
NOT_WHAT_TIME = "I didn't catch what time."


class DevicePort(Protocol):
    """The device controls the voice reaches (the lead wires it to ``ControlApi``)."""

    def volume(self) -> int:
        """Playback volume, 0–100 %."""
        ...

    def set_volume(self, level: int) -> None:
        """Set playback volume, 0–100 %."""
        ...

    async def stop(self) -> bool:
        """Stop whatever is playing or being said; True if something was."""
        ...

    def last_reply(self) -> str:
        """The last reply spoken ('' if none yet)."""
        ...


class PeerPort(Protocol):
    """Other appliances of the home (``rooms``): their timers, listed and cancelled from here."""

    def timers_said(self, name: str = "") -> list[str]:
        """A sentence per other room's timer called ``name`` (all when empty): 'The kitchen has a pasta
        timer, 4 minutes left.' (called from a worker thread)."""
        ...

    async def cancel_timer(self, name: str = "") -> str | None:
        """Cancel another room's timer called ``name`` (its only one when empty) and wait for it to say so;
        what to answer, or None when no other room has such a timer."""
        ...


async def _nothing_ringing() -> bool:
    return False


@dataclass
class SkillContext:
    """What a matched request may act on, all injected."""

    skills: Skills
    settings: SkillsSettings
    device: DevicePort | None = None
    stop_ringing: Callable[[], Awaitable[bool]] = _nothing_ringing
    """Silence ringing timers and alarms; True if any rang (the feature provides it)."""
    peers: PeerPort | None = None
    """The other rooms' timers (``rooms``); None on an appliance alone."""

    def now(self) -> dt.datetime:
        """The injected clock as a zone-aware datetime."""
        return dt.datetime.fromtimestamp(self.skills.now(), self.skills.tz)


def acting(
    name: str,
    speech: str,
    work: Callable[[], str],
    data: dict[str, Any] | None = None,
    *,
    expect: Callable[[], str] | None = None,
) -> Intent:
    """An intent whose action runs ``work`` in a thread once committed; a SkillError becomes its spoken refusal.

    ``expect``: what ``work`` will most likely return, read without acting (the reply synthesizes it early).
    """

    async def act() -> str:
        try:
            return await asyncio.to_thread(work)
        except SkillError as err:
            _LOGGER.info("Skill %s refused: %s", name, err)
            return err.speech

    return Intent(name, speech, act, dict(data or {}), expect=expect)


def saying(name: str, speech: str, data: dict[str, Any] | None = None) -> Intent:
    """An intent that only speaks (an answer, or a refusal decided from the words alone)."""
    return Intent(name, speech, None, dict(data or {}))


def refusal(name: str, err: SkillError, data: dict[str, Any] | None = None) -> Intent:
    """A recognised request refused from its words alone ('a timer for minus five minutes')."""
    return saying(name, err.speech, {**(data or {}), "error": err.code})


def with_peer_timers(ctx: SkillContext, said: str, name: str = "") -> str:
    """A timer answer from here, with the other rooms' timers called ``name`` after it (instead of it
    when none here matches): 'You don't have any timers.' becomes 'The kitchen has a pasta timer, …'."""
    others = ctx.peers.timers_said(name) if ctx.peers is not None else []
    if not others:
        return said
    if not ctx.skills.timers(name or None):
        return " ".join(others)
    return f"{said} {' '.join(others)}"


def or_peer_timer(ctx: SkillContext, intent: Intent, name: str, *, every: bool) -> Intent:
    """A timer cancel that asks the other rooms when nothing here matches (not for 'all', nor while one rings)."""
    here = intent.action
    peers = ctx.peers
    if peers is None or every or here is None:
        return intent

    def nothing_here() -> bool:
        return not ctx.skills.timers(name or None) and not ctx.skills.ringing()

    async def act() -> str | None:
        if await asyncio.to_thread(nothing_here):
            said = await peers.cancel_timer(name)
            if said is not None:
                return said
        return await here()

    intent.action = act
    return intent
