"""Several appliances on one broker as a feature: heartbeats, claims, shared timers and broadcasts over MQTT.

```
<base>/rooms/<group>/hello      {"device_id", "area", "timers"}: every HELLO_S, at once to a newcomer,
                                and at once when our timers change (QoS 0)
<base>/rooms/<group>/claim      Claim.to_payload(): published as this appliance hears a wake word (QoS 0)
<base>/rooms/<group>/cancel     a peer asks us to cancel one of our timers; answered on .../cancelled
<base>/rooms/<group>/broadcast  {"id", "from", "text", "area"}: spoken where the area matches
<base>/<device_id>/event/election   ElectionDecided: won or lost, the claims, the decision time
<base>/<device_id>/event/broadcast  BroadcastRelayed: sent or received
```

``<group>`` is ``rooms.group``, or ``home`` when that is empty (:mod:`.wire`).  The pure
rules live in :mod:`.election`, :mod:`.timers` and :mod:`.broadcast`; this module only
times them on the event loop and moves their messages.  With the broker down it decides
nothing: the appliance answers alone, and ``status`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from appliance.control import args as a
from appliance.core.events import ElectionDecided, RetainedState
from appliance.core.feature import Feature, Loop
from appliance.integrations.mqtt.topics import encode
from appliance.integrations.rooms.broadcast import AREA_MAX, TEXT_MAX
from appliance.integrations.rooms.broadcaster import Broadcaster, BroadcastRequests, Speaker
from appliance.integrations.rooms.election import Claim, ClaimRefused, Election, PeerTable, Rooms
from appliance.integrations.rooms.sharing import LocalTimers, RoomTimers, TimerOwner
from appliance.integrations.rooms.wire import GroupTopics, decode, group_root
from appliance.voice.messages import WakeHeard

if TYPE_CHECKING:
    from appliance.control.commands import Handler
    from appliance.core.bus import Bus
    from appliance.integrations.mqtt.client import Inbound
    from appliance.integrations.mqtt.feature import MqttFeature
    from appliance.settings import Settings
    from appliance.voice.reply import IntentMatcher

__all__ = ["HELLO_S", "RoomsFeature", "group_root"]

_LOGGER = logging.getLogger(__name__)

HELLO_S = 5.0
"""Seconds between heartbeats (peers count after PeerTable.min_known_s, forget after forget_after_s)."""
HELLO_BACK_S = 1.0
"""A newcomer's hello is answered at once, at most this often, so two appliances know each other quickly."""
POLL_S = 0.25
"""Seconds between looks at the connection (a hello goes out this soon after a connect)."""


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, float(value)))


class RoomsFeature(Feature):
    """This appliance's side of the group; the pipeline's :class:`~appliance.voice.arbiter.WakeArbiter`."""

    name = "rooms"

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        mqtt: MqttFeature,
        *,
        hello_s: float = HELLO_S,
        timers: RoomTimers | None = None,
        local: LocalTimers | None = None,
        speaker: Speaker | None = None,
    ) -> None:
        cfg = settings.rooms
        self.bus = bus
        self.mqtt = mqtt
        self.area = cfg.area
        self.group = cfg.group or "home"
        self.hello_s = hello_s
        self.topics = topics = GroupTopics.of(settings.mqtt.base_topic, cfg.group)
        self.claim_topic, self.hello_topic = topics.claim, topics.hello
        trust = frozenset(cfg.trust) or None
        self.rooms = Rooms(settings.device_id, peers=PeerTable(trust=trust), window_s=cfg.window_ms / 1000.0)
        self.timers = timers or RoomTimers(settings.device_id, topics, mqtt)
        """The other rooms' timers (the skills' ``peers`` port)."""
        self.owner = TimerOwner(settings.device_id, topics, mqtt, local, self.rooms.peers)
        self.broadcaster = Broadcaster(
            settings.device_id, cfg.area, topics, mqtt, speaker, bus, trust=trust, peers=self._peers_now
        )
        self.last: dict[str, Any] | None = None
        """The last election's record (for ``status``)."""
        self._areas: dict[str, tuple[str, float]] = {}
        """Peer id -> (its announced area, when heard)."""
        self._shared: list[dict[str, object]] = []
        """Our timers as the last hello carried them."""
        self._timers_changed = asyncio.Event()
        self._hello_back = 0.0
        self._pending: tuple[Election, asyncio.Future[bool], asyncio.TimerHandle] | None = None
        """The election still collecting claims: decided early once every known peer (or a clearer one) claimed."""
        self._tasks: set[asyncio.Task[None]] = set()
        mqtt.listen(topics.claim, self._on_claim)
        mqtt.listen(topics.hello, self._on_hello)
        mqtt.listen(topics.cancel, self._on_cancel)
        mqtt.listen(topics.cancelled, lambda msg: self.timers.answered(decode(msg.payload)))
        mqtt.listen(topics.broadcast, self._on_broadcast)

    # -- the pipeline's port -------------------------------------------------------------
    def elect(self, wake: WakeHeard) -> asyncio.Future[bool] | None:
        """Publish our claim at once; a future decided ``window_ms`` after the wake word, or None to answer alone."""
        if not self.mqtt.connected:
            return None
        try:
            own = self._claim(wake)
        except ClaimRefused as err:
            _LOGGER.warning("No claim for this wake word: %s", err.message)
            return None
        self.mqtt.publish_shared(self.claim_topic, encode(own.to_payload()))
        election = self.rooms.start(own, wake.mono)
        if election.window_s == 0.0:  # no peer known: nobody to wait for
            return None
        loop = asyncio.get_running_loop()
        decided: asyncio.Future[bool] = loop.create_future()
        now = time.monotonic()
        if election.ready(now):  # every known peer's claim is already here, or a clearer one
            loop.call_soon(self._decide, election, decided)
        else:
            handle = loop.call_later(max(0.0, election.deadline - now), self._decide, election, decided)
            self._pending = (election, decided, handle)
        return decided

    def _claim(self, wake: WakeHeard) -> Claim:
        det = wake.detection
        return Claim(
            device_id=self.rooms.device_id,
            wake_word=det.model[:64],
            score=_clamp(det.score, 0.0, 1.0),
            level_dbfs=_clamp(wake.level_dbfs, -120.0, 0.0),
            snr_db=_clamp(wake.snr_db, -20.0, 80.0),
            area=self.area,
        )

    def _decide(self, election: Election, decided: asyncio.Future[bool]) -> None:
        if decided.done():
            return
        if self._pending is not None and self._pending[0] is election:
            self._pending = None
        record = election.record(time.monotonic())
        self.last = record
        _LOGGER.info("Election %s in %.1f ms: %s answers", record["result"], record["delay_ms"], record["winner"])
        self.bus.publish(
            ElectionDecided(
                result=record["result"],
                winner=record["winner"],
                claims=tuple(record["claims"]),
                delay_ms=record["delay_ms"],
                refused=record["refused"],
            )
        )
        if not decided.done():
            decided.set_result(record["result"] == "won")

    # -- what arrives --------------------------------------------------------------------
    def _on_claim(self, msg: Inbound) -> None:
        self.rooms.receive_payload(decode(msg.payload), msg.received)
        pending = self._pending
        if pending is not None and pending[0].ready(time.monotonic()):
            pending[2].cancel()
            self._decide(pending[0], pending[1])

    def _on_hello(self, msg: Inbound) -> None:
        obj = decode(msg.payload)
        device_id = obj.get("device_id") if isinstance(obj, dict) else None
        if not isinstance(device_id, str) or device_id == self.rooms.device_id:
            return
        assert isinstance(obj, dict)
        new = device_id not in self.rooms.peers.peers(msg.received)
        self.rooms.heard(device_id, msg.received)
        if device_id not in self.rooms.peers.peers(msg.received):
            return  # untrusted, malformed, or one too many: neither its area nor its timers are kept
        area = obj.get("area", "")
        area = area if isinstance(area, str) and len(area) <= AREA_MAX and area.isprintable() else ""
        self._areas[device_id] = (area, msg.received)
        self.timers.heard(device_id, area, obj.get("timers"), msg.received)
        if new and msg.received - self._hello_back >= HELLO_BACK_S:
            self._hello_back = msg.received
            self._hello()

    def _on_broadcast(self, msg: Inbound) -> None:
        self.broadcaster.receive(decode(msg.payload), msg.received)

    def _on_cancel(self, msg: Inbound) -> None:
        task = asyncio.ensure_future(self.owner.asked(decode(msg.payload), msg.received))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _peers_now(self) -> list[str]:
        return self.rooms.peers.peers(time.monotonic())

    def areas(self) -> list[str]:
        """The areas the group announces (ours and the peers' heard in the last minute), for 'tell the kitchen'."""
        now = time.monotonic()
        heard = [area for area, at in self._areas.values() if now - at <= self.rooms.peers.forget_after_s]
        return sorted({area for area in (self.area, *heard) if area})

    # -- what goes out ----------------------------------------------------------------------
    def _hello(self) -> None:
        hello = {"device_id": self.rooms.device_id, "area": self.area, "timers": self._shared}
        self.mqtt.publish_shared(self.hello_topic, encode(hello))

    async def _heartbeat(self) -> None:
        """A hello every ``hello_s``, one as soon as the broker is back (peers answer a newcomer),
        and one as soon as our timers change."""
        was_connected, next_at = False, 0.0
        while True:
            connected, now = self.mqtt.connected, time.monotonic()
            changed = self._timers_changed.is_set()
            if connected and (not was_connected or now >= next_at or changed):
                self._timers_changed.clear()
                self._shared = await asyncio.to_thread(self.owner.shared)
                self._hello()
                next_at = now + self.hello_s
            was_connected = connected
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._timers_changed.wait(), POLL_S)

    async def _watch_timers(self) -> None:
        """Our timers changed (the skills republish their retained state): say so in a hello at once."""
        with self.bus.subscribe(RetainedState, maxsize=16, name="rooms-timers") as changes:
            async for change in changes:
                if change.key == "timers":
                    self._timers_changed.set()

    async def _broadcast_command(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """``broadcast {text, area?}``: every appliance in ``area`` (all when absent) says ``text``, this one too."""
        text = a.text(args, max_len=TEXT_MAX)
        area = a.optional_text(args, "area", max_len=AREA_MAX) or ""
        return await self.broadcaster.send(text, area, here=True)

    async def broadcast(self, text: str, area: str = "") -> str:
        """A broadcast asked for by voice (the understanding layer's ``rooms.broadcast``): what to answer."""
        return await self.broadcaster.tell(text, area)

    # -- the Feature protocol --------------------------------------------------------------
    def intents(self) -> Sequence[IntentMatcher]:
        return (BroadcastRequests(self.broadcaster, self.areas),)

    def commands(self) -> Mapping[str, Handler]:
        return {"broadcast": self._broadcast_command}

    def loops(self) -> Mapping[str, Loop]:
        return {"rooms-hello": self._heartbeat, "rooms-timers": self._watch_timers}

    def apply(self, settings: Settings) -> list[str]:
        """``rooms.area``, ``window_ms`` and ``trust`` live (a hello says the new area at once);
        ``enabled`` and ``group`` change the topics, so they need a restart."""
        cfg = settings.rooms
        if (cfg.enabled, cfg.group or "home") != (True, self.group):
            return []
        trust = frozenset(cfg.trust) or None
        self.area = self.broadcaster.area = cfg.area
        self.rooms.window_s = self.rooms.early_s = cfg.window_ms / 1000.0
        self.rooms.peers.trust = self.broadcaster.trust = trust
        self._timers_changed.set()
        return ["rooms"]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.broadcaster.stop()

    def status(self) -> Mapping[str, Any]:
        now = time.monotonic()
        peers = self.rooms.peers.peers(now)
        if not self.mqtt.connected:
            state = "alone (broker down)"
        elif not peers:
            state = "alone (no peers)"
        else:
            state = "electing"
        part: dict[str, Any] = {"state": state, "group": self.group, "peers": peers}
        if self.rooms.refused:
            part["refused"] = dict(sorted(self.rooms.refused.items()))
        if self.last is not None:
            part["last"] = {key: self.last[key] for key in ("result", "winner", "delay_ms")}
        part["timers"] = self.timers.status()
        part["broadcasts"] = self.broadcaster.status()
        if self.owner.refused or self.timers.refused:
            part["timers_refused"] = dict(sorted((self.owner.refused + self.timers.refused).items()))
        return part
