"""Timers shared with the group: the skills' view of the other rooms, and this room's side for them.

:class:`RoomTimers` is the skills' ``peers`` port (:class:`~appliance.skills.voice.PeerPort`):
"how long is left" and "what timers are running" add the other rooms' timers, and a
cancel that matches nothing here asks the room that owns the timer.  That room's
:class:`TimerOwner` cancels it only for a known (and, with ``rooms.trust``, listed) peer
and acknowledges; the asking room says it was cancelled only once the acknowledgement
is in, and after :data:`ACK_WAIT_S` says it could not reach that room.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from appliance.integrations.mqtt.topics import encode
from appliance.integrations.rooms.election import PeerTable, RateLimit
from appliance.integrations.rooms.timers import PeerTimer, PeerTimers, SharedTimer, TimersRefused, timers_from_payload
from appliance.integrations.rooms.wire import GroupTopics, valid_id
from appliance.skills.errors import SkillError
from appliance.skills.schedule import Kind

if TYPE_CHECKING:
    from appliance.skills.schedule import Item, Timer

_LOGGER = logging.getLogger(__name__)

ACK_WAIT_S = 1.5
"""Seconds the asking room waits for the owner's acknowledgement."""
MAX_PENDING = 8
"""Cancel requests waiting for an answer at once; more are refused at once."""


class Link(Protocol):
    """The broker, as the group sees it (the MQTT feature)."""

    @property
    def connected(self) -> bool: ...

    def publish_shared(self, topic: str, payload: bytes) -> bool: ...


class LocalTimers(Protocol):
    """This appliance's own timers (the skills engine, :class:`~appliance.skills.engine.Skills`)."""

    now: Callable[[], float]

    @property
    def is_open(self) -> bool: ...

    def timers(self, name: str | None = None, item_id: int | None = None) -> list[Timer]: ...

    def cancel(
        self, *, item_id: int | None = None, name: str | None = None, kind: Kind | None = None, every: bool = False
    ) -> list[Item]: ...


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class RoomTimers:
    """The other rooms' timers for the skills: listed, timed by our own clock, cancelled on request."""

    def __init__(self, device_id: str, topics: GroupTopics, link: Link, *, ack_wait_s: float = ACK_WAIT_S) -> None:
        self.device_id = device_id
        self.topics = topics
        self.link = link
        self.ack_wait_s = ack_wait_s
        self.table = PeerTimers()
        self.refused: Counter[str] = Counter()
        """Hellos whose timers were not kept, by code."""
        self._pending: dict[str, tuple[str, asyncio.Future[Mapping[str, Any]]]] = {}

    # -- what the skills ask (from their worker threads, or the loop) ----------------------
    def timers_said(self, name: str = "") -> list[str]:
        """A sentence per other room's timer called ``name`` (all when empty)."""
        return self.table.said(name, time.monotonic())

    async def cancel_timer(self, name: str = "") -> str | None:
        """Cancel another room's timer called ``name`` (or its only one); what to say, None if no room has one."""
        found = self.table.matching(name, time.monotonic())
        if not found:
            return None
        if len(found) > 1:
            listed = [f"{t.label} in {t.room}" for t in found]
            return f"Other rooms have {len(found)} timers: {_join(listed)}. Which one?"
        return await self._ask(found[0])

    async def _ask(self, target: PeerTimer) -> str:
        room = target.room
        if len(self._pending) >= MAX_PENDING:
            return f"I couldn't reach {room}."
        request_id = uuid.uuid4().hex[:16]
        payload = {"to": target.device_id, "from": self.device_id, "id": request_id, "timer": target.timer.id}
        answered: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (target.device_id, answered)
        try:
            if not self.link.publish_shared(self.topics.cancel, encode(payload)):
                return f"I couldn't reach {room}."
            try:
                ack = await asyncio.wait_for(answered, self.ack_wait_s)
            except asyncio.TimeoutError:
                _LOGGER.info("No answer from %s to cancel its timer %d", target.device_id, target.timer.id)
                return f"I couldn't reach {room}."
        finally:
            self._pending.pop(request_id, None)
        whose = f"{room}'s {target.label.split(' ', 1)[1]}"
        if ack.get("ok") is True:
            self.table.drop(target.device_id, target.timer.id)
            return f"Cancelled {whose}."
        if ack.get("code") == "no-timer":
            self.table.drop(target.device_id, target.timer.id)
            return f"{whose[:1].upper()}{whose[1:]} has already gone."
        return f"{room[:1].upper()}{room[1:]} didn't cancel its timer."

    # -- what arrives (on the event loop) -----------------------------------------------------
    def heard(self, device_id: str, area: str, timers: object, received: float) -> None:
        """A peer's hello: its whole timer list replaces what was known (a bad list is counted, not kept)."""
        try:
            shared = timers_from_payload(timers)
        except TimersRefused as err:
            self.refused[err.code] += 1
            return
        self.table.update(device_id, area, shared, received)

    def answered(self, obj: object) -> None:
        """An acknowledgement on ``cancelled``: it settles our request if it is one, from the room asked."""
        if not isinstance(obj, Mapping) or obj.get("to") != self.device_id:
            return
        request_id = obj.get("id")
        pending = self._pending.get(request_id) if isinstance(request_id, str) else None
        if pending is None or obj.get("from") != pending[0] or pending[1].done():
            return
        pending[1].set_result(obj)

    def status(self) -> list[dict[str, object]]:
        return self.table.status(time.monotonic())


class TimerOwner:
    """This appliance's side: its timers for the hellos, and cancelling one when a trusted peer asks."""

    def __init__(
        self,
        device_id: str,
        topics: GroupTopics,
        link: Link,
        local: LocalTimers | None,
        peers: PeerTable,
        *,
        limit: RateLimit | None = None,
    ) -> None:
        self.device_id = device_id
        self.topics = topics
        self.link = link
        self.local = local
        self.peers = peers
        self.limit = limit or RateLimit(per_s=1.0, burst=3)
        self.refused: Counter[str] = Counter()
        """Cancel requests refused, by code."""
        self.cancelled = 0

    def shared(self) -> list[dict[str, object]]:
        """Our running and paused timers, as a hello carries them (blocking: call it in a thread)."""
        if self.local is None or not self.local.is_open:
            return []
        now = self.local.now()
        out = []
        for timer in self.local.timers():
            left = timer.remaining(now)
            if left <= 0.0:
                continue  # ringing or about to: nothing left to count down
            paused = timer.paused_remaining_s is not None
            out.append(SharedTimer(timer.id, timer.name, left, timer.duration_s, paused).to_payload())
        return out

    async def asked(self, obj: object, received: float) -> None:
        """A cancel request: if it is for us, from a known and trusted peer, cancel and acknowledge."""
        if not isinstance(obj, Mapping) or obj.get("to") != self.device_id:
            return
        asker, request_id, timer_id = obj.get("from"), obj.get("id"), obj.get("timer")
        if not valid_id(asker) or not valid_id(request_id):
            self.refused["cancel-malformed"] += 1
            return
        assert isinstance(asker, str)
        code = self._refusal(asker, timer_id, received)
        name = ""
        if code is None:
            assert isinstance(timer_id, int)
            code, name = await asyncio.to_thread(self._cancel, timer_id)
        if code is not None:
            self.refused[code] += 1
            _LOGGER.info("Refused %s's request to cancel timer %s: %s", asker, timer_id, code)
        else:
            self.cancelled += 1
        ack = {"to": asker, "from": self.device_id, "id": request_id, "ok": code is None, "code": code, "name": name}
        self.link.publish_shared(self.topics.cancelled, encode(ack))

    def _refusal(self, asker: str, timer_id: object, received: float) -> str | None:
        if not self.peers.trusted(asker):
            return "cancel-untrusted"
        if not self.peers.known(asker, received):
            return "cancel-unknown-peer"
        if not self.limit.allow(asker, received):
            return "cancel-rate-limited"
        if isinstance(timer_id, bool) or not isinstance(timer_id, int) or not 0 < timer_id < 2**31:
            return "cancel-malformed"
        if self.local is None or not self.local.is_open:
            return "no-timer"
        return None

    def _cancel(self, timer_id: int) -> tuple[str | None, str]:
        """Cancel our timer ``timer_id`` (a timer only: an alarm stays this room's own); (code, name)."""
        assert self.local is not None
        if not self.local.timers(item_id=timer_id):
            return "no-timer", ""
        try:
            gone = self.local.cancel(item_id=timer_id, kind=Kind.TIMER)
        except SkillError:
            return "no-timer", ""
        return None, gone[0].name if gone else ""
