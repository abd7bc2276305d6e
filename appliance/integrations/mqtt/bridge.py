"""The appliance on the home MQTT network: state and events out, commands in, discovery, outbox.

:class:`MqttBridge` is what the composition root wires in when ``mqtt.host``
is set.  It never blocks the event loop: the network runs on paho's thread,
SQLite on the outbox's writer thread; an unreachable broker only means
state waits for the next connect and durable events wait in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from appliance.control.payload import scrub
from appliance.core.bus import Bus, Subscription
from appliance.core.events import (
    ErrorRaised,
    Event,
    Forgotten,
    MqttConnection,
    TurnFinished,
)
from appliance.integrations.mqtt.client import Inbound, MqttClient, properties_length
from appliance.integrations.mqtt.discovery import LATENCIES, DeviceInfo, discovery_payload
from appliance.integrations.mqtt.inbound import CommandRouter, Execute
from appliance.integrations.mqtt.limits import birth_delay
from appliance.integrations.mqtt.outbound import (
    Publication,
    health_payload,
    integrations_summary,
    onoff,
    publications,
    text_state,
    wake_word_state,
)
from appliance.integrations.mqtt.outbox import Outbox
from appliance.integrations.mqtt.topics import Topics, encode, packet_size
from appliance.settings import Settings

_LOGGER = logging.getLogger(__name__)

WINDOW = 20
"""Outbox entries handed to paho at once (its in-flight limit)."""


class MqttBridge:
    """Connection, outbox, command router and state publisher for one device."""

    def __init__(
        self,
        settings: Settings,
        *,
        bus: Bus,
        execute: Execute,
        snapshot: Callable[[], dict[str, Any]],
        info: DeviceInfo,
        retained: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        self.settings = settings
        self.cfg = settings.mqtt
        self.bus = bus
        self.info = info
        self.topics = Topics.for_device(self.cfg.base_topic, settings.device_id, self.cfg.discovery_prefix)
        self.outbox = Outbox(settings.state_dir / "outbox.db", self.cfg.outbox_max)
        self.latency: dict[str, float | None] = {key: None for key, _ in LATENCIES}
        self.oversized = 0
        self._snapshot = snapshot
        self._retained = retained
        """Features' retained state (``state/<key>`` → JSON), re-sent on every connect."""
        self._client: MqttClient | None = None
        self._inflight: dict[int, Any] = {}
        """outbox entry id -> paho's MQTTMessageInfo, until its PUBACK."""
        self._birth: asyncio.Task[None] | None = None
        self._listeners: dict[str, Callable[[Inbound], None]] = {}
        """Topics shared with other appliances (QoS 0) and who handles them, on the event loop."""
        self.router = CommandRouter(
            self.cfg,
            self.topics,
            execute=execute,
            publish=self._publish,
            report=bus.publish,
            reply_properties=lambda corr: self._client.reply_properties(corr) if self._client else None,
        )

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Open the outbox and start connecting (returns at once; the broker may be down)."""
        left = await asyncio.to_thread(self.outbox.open)
        if self.outbox.unavailable:
            self.bus.publish(ErrorRaised(code="outbox-unavailable", message=self.outbox.unavailable, stage="mqtt"))
        if left:
            _LOGGER.info("Outbox holds %d events from an earlier run; they go out once connected", left)
        self._client = MqttClient(
            self.cfg,
            client_id=self.cfg.client_id or f"appliance-{self.settings.device_id}",
            will_topic=self.topics.availability,
            subscriptions=self._subscriptions,
            listener=self,
            loop=asyncio.get_running_loop(),
        )
        self._client.start()

    async def stop(self) -> None:
        """Retained ``offline``, disconnect, commit the outbox."""
        if self._birth is not None:
            self._birth.cancel()
        if self._client is not None:
            await asyncio.to_thread(self._client.stop, self.topics.availability)
        await asyncio.to_thread(self.outbox.close)

    def loops(self) -> dict[str, Callable[[], Any]]:
        """The long-running loops for the supervisor."""
        return {"mqtt-events": self._events, "mqtt-speech": self.router.speech_worker, "mqtt-health": self._health}

    def network_alive(self) -> bool:
        """paho's network thread runs (a liveness check for the watchdog; connected or not)."""
        return self._client is None or self._client.network_alive

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def _subscriptions(self) -> list[tuple[str, int]]:
        subs = [(self.topics.command_filter, 1), (self.topics.ha_status, 1)]
        subs += [(topic, 0) for topic in self._listeners]
        return subs

    def listen(self, topic: str, handler: Callable[[Inbound], None]) -> None:
        """Hand every message on ``topic`` to ``handler`` on the event loop (subscribed at QoS 0 on connect)."""
        self._listeners[topic] = handler

    def publish_shared(self, topic: str, payload: bytes) -> bool:
        """Publish at once at QoS 0, not retained, not through the outbox; False while disconnected."""
        return self.connected and self._publish(topic, payload, qos=0) is not None

    # -- what paho reports (on the event loop) -------------------------------------------
    def on_connected(self, session_present: bool) -> None:
        """(Re)connected: announce, publish every state, resume the outbox."""
        assert self._client is not None
        self.bus.publish(MqttConnection(connected=True, broker=self._client.broker))
        self._publish(self.topics.availability, b"online", retain=True)
        self.announce()
        self._pump()

    def on_disconnected(self, reason: str) -> None:
        broker = self._client.broker if self._client else ""
        self.bus.publish(MqttConnection(connected=False, broker=broker, reason=reason))

    def on_message(self, msg: Inbound) -> None:
        name = self.topics.command_name(msg.topic)
        listener = self._listeners.get(msg.topic)
        if listener is not None:
            listener(msg)
        elif name is not None:
            self.router.handle(msg, name)
        elif msg.topic == self.topics.ha_status and msg.payload.strip().lower() == b"online" and self.cfg.discovery:
            self._schedule_announce()

    def on_published(self) -> None:
        """Some PUBACKs arrived: forget the outbox entries they acknowledge."""
        if self._client is None:
            return
        refused, acked = self._client.refused_by_broker, set()
        while self._client.acked:
            acked.add(self._client.acked.popleft())
        for entry_id, info in list(self._inflight.items()):
            if info.mid not in acked and not info.is_published():
                continue
            del self._inflight[entry_id]
            failure = refused.pop(info.mid, "")
            if failure:  # the broker will never take it (an ACL, say): retrying would block the queue
                _LOGGER.warning("Broker refused an outbox event (%s); dropped", failure)
            self.outbox.ack(entry_id)
        self._pump()

    # -- announcing ---------------------------------------------------------------------------
    def _schedule_announce(self) -> None:
        """Home Assistant came online: re-announce after a random delay, so many devices spread out."""
        if self._birth is not None and not self._birth.done():
            return
        delay = birth_delay(self.cfg.birth_delay_max_s, random.Random())
        _LOGGER.info("Home Assistant is online; announcing again in %.1f s", delay)

        async def later() -> None:
            await asyncio.sleep(delay)
            self.announce()

        self._birth = asyncio.create_task(later(), name="mqtt-birth")

    def announce(self) -> None:
        """Discovery (when enabled) and every retained state."""
        if self.cfg.discovery:
            payload = discovery_payload(self.topics, self.info, permits=self.router.policy.permits)
            self._publish(self.topics.discovery, encode(payload), retain=True)
        for pub in self.state_publications():
            self._publish(pub.topic, pub.payload, retain=True)

    def state_publications(self) -> list[Publication]:
        s = self._snapshot()
        t = self.topics
        pubs = [
            Publication(t.state("stage"), str(s["stage"]).encode(), retain=True),
            Publication(t.state("mute"), onoff(bool(s["muted"])), retain=True),
            Publication(t.state("volume"), str(s["volume"]).encode(), retain=True),
            *wake_word_state(t, s["wake_words"], float(s["sensitivity"])),
            Publication(t.state("health"), self._health_payload(s), retain=True),
        ]
        last = s.get("last_turn")
        if last:
            pubs += text_state(t, "transcript", last["transcript"], {}, time.time())
            pubs += text_state(t, "reply", last["reply"], {}, time.time())
        pubs += [Publication(t.state(key), payload.encode(), retain=True) for key, payload in self._retained().items()]
        return pubs

    # -- sending ----------------------------------------------------------------------------------
    def send(self, pub: Publication) -> None:
        """Durable publications through the outbox; the rest straight out (dropped while offline)."""
        if not self._fits(pub.topic, pub.payload):
            return
        if pub.durable:
            self.outbox.add(pub.topic, pub.payload, retain=pub.retain)
            self._pump()
        elif self.connected:
            self._publish(pub.topic, pub.payload, qos=pub.qos, retain=pub.retain)

    def forget_text_state(self) -> int:
        """Clear the retained last transcript and reply on the broker (for "forget"); topics cleared.

        An empty retained message deletes a retained one; while disconnected the
        clear is skipped (the next announce publishes the snapshot, which no longer
        has the forgotten turn).
        """
        if not self.connected:
            return 0
        topics = [self.topics.state(f"{key}{part}") for key in ("transcript", "reply") for part in ("", "/attributes")]
        return sum(self._publish(topic, b"", retain=True) is not None for topic in topics)

    def publish_device(self, topic: str, payload: str, *, retain: bool = False) -> bool:
        """A home device command (QoS 1, never queued for later: a stale "on" is worse than none)."""
        if not self.connected:
            return False
        return self._publish(topic, scrub(payload).encode("utf-8"), retain=retain) is not None

    def _publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: Any = None
    ) -> Any:
        """Hand one message to paho; None if it cannot go out. Never raises."""
        if self._client is None or not self._fits(topic, payload, properties):
            return None
        try:
            return self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        except Exception:  # paho on a bad topic or property: log it, never take a loop down
            _LOGGER.exception("Could not publish on %s", scrub(topic))
            return None

    @property
    def max_packet_bytes(self) -> int:
        """Our limit, or the broker's (CONNACK Maximum Packet Size) when that is smaller."""
        broker = self._client.broker_max_packet if self._client else None
        return min(self.cfg.max_packet_bytes, broker) if broker else self.cfg.max_packet_bytes

    def _fits(self, topic: str, payload: bytes, properties: Any = None) -> bool:
        size = packet_size(
            topic, len(payload), properties_len=properties_length(properties), v5=self.cfg.protocol == "5"
        )
        limit = self.max_packet_bytes
        if size <= limit:
            return True
        self.oversized += 1
        _LOGGER.warning("Not publishing %d bytes on %s: over the %d-byte packet limit", size, scrub(topic), limit)
        if not topic.startswith(self.topics.event("error")):
            message = scrub(f"{topic[:200]}: {size} bytes is over the {limit}-byte packet limit")
            self.bus.publish(ErrorRaised(code="payload-too-large", message=message, stage="mqtt"))
        return False

    def _pump(self) -> None:
        """Hand the oldest unsent outbox entries to paho, up to the in-flight window."""
        client = self._client
        if client is None or not client.connected:
            return
        room = WINDOW - len(self._inflight)
        if room <= 0:
            return
        for entry in self.outbox.unsent(frozenset(self._inflight), room):
            info = client.publish(entry.topic, entry.payload, qos=1, retain=entry.retain)
            if info is None:
                break
            self._inflight[entry.id] = info

    # -- loops ------------------------------------------------------------------------------------
    async def _events(self) -> None:
        """Bus events to MQTT, in batches; retained state of one topic coalesced within a batch."""
        sub: Subscription[Event]
        with self.bus.subscribe(name="mqtt", maxsize=4096) as sub:
            while True:
                batch: list[Event] = [await sub.get()]
                while len(batch) < 512 and not sub.queue.empty():
                    batch.append(sub.get_nowait())
                latest: dict[str, Publication] = {}
                for event in batch:
                    if isinstance(event, TurnFinished):
                        self._record_latency(event)
                    if isinstance(event, Forgotten):  # undelivered transcripts and replies are forgotten too
                        self.outbox.drop_topics(frozenset(self.topics.event(n) for n in ("transcript", "reply")))
                    for pub in publications(self.topics, event):
                        if pub.retain and not pub.durable:
                            latest[pub.topic] = pub
                        else:
                            self.send(pub)
                for pub in latest.values():
                    self.send(pub)
                self.router.report_suppressed(time.monotonic())

    async def retry_outbox(self) -> bool:
        """Try the outbox database again after it could not be opened; True once it is in use."""
        opened = await asyncio.to_thread(self.outbox.connect_again)
        if opened is not None:
            self.outbox.adopt(*opened)
        return self.outbox.unavailable is None

    def _record_latency(self, event: TurnFinished) -> None:
        for key, _ in LATENCIES:
            if event.timings.get(key) is not None:
                self.latency[key] = round(event.timings[key], 3)
        self._publish_health()

    def _publish_health(self) -> None:
        if self.connected:
            self._publish(self.topics.state("health"), self._health_payload(self._snapshot()), retain=True)

    def _health_payload(self, snapshot: dict[str, Any]) -> bytes:
        return health_payload(
            snapshot["uptime_s"],
            self.latency,
            len(self.outbox),
            snapshot.get("llm_server"),
            integrations_summary(snapshot),
        )

    async def _health(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.health_interval_s)
            if self.outbox.unavailable:  # a full disk freed, a permission fixed: use the file again
                await self.retry_outbox()
            self._publish_health()
            self.router.report_suppressed(time.monotonic())

    def status(self) -> dict[str, Any]:
        client = self._client
        return {
            "connected": self.connected,
            "broker": client.broker if client else f"{self.cfg.host}:{self.cfg.port}",
            "last_error": "" if self.connected or client is None else client.last_error,
            "outbox": len(self.outbox),
            "outbox_dropped": self.outbox.dropped,
            "outbox_unavailable": self.outbox.unavailable,
            "in_flight": len(self._inflight),
            "commands": vars(self.router.counters).copy(),
            "refused_on_arrival": client.refused_backlog if client else 0,
            "publish_dropped": client.dropped if client else 0,
            "oversized": self.oversized,
            "callback_errors": client.callback_errors if client else 0,
        }
