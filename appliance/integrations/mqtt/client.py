"""paho-mqtt 2.x behind a narrow API: its own network thread, jittered reconnects, results on the event loop.

- paho's network thread (``loop_start``) does every socket read and write,
  so neither a slow broker nor a dead one can block the event loop.
- Reconnects: paho's own delay is set to zero and ``on_pre_connect`` waits
  instead, with doubling, capped, jittered delays (:func:`backoff_delay`).
- Subscriptions are made in ``on_connect``, so every reconnect renews them.
- What paho reports (connected, refused, lost, message, PUBACK) is handed to
  a :class:`Listener` on the event loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from appliance.core.errors import ConfigError
from appliance.core.handoff import call_soon
from appliance.integrations.mqtt.limits import backoff_delay
from appliance.integrations.mqtt.transport import (
    diagnose,
    no_delay,
    read_password,
    tls_context,
)
from appliance.settings import MqttSettings

_LOGGER = logging.getLogger(__name__)

MAX_BACKLOG = 5000
"""Messages handed to the event loop but not yet taken; beyond this they are refused on arrival."""


@dataclass(frozen=True)
class Inbound:
    """One message received, with what MQTT 5 says about it."""

    topic: str
    payload: bytes
    retain: bool
    received: float
    """time.monotonic() at arrival."""
    response_topic: str | None = None
    correlation: bytes | None = None
    expiry_s: float | None = None
    """v5 message expiry left when the broker delivered it, seconds."""


class Listener(Protocol):
    def on_connected(self, session_present: bool) -> None: ...
    def on_disconnected(self, reason: str) -> None: ...
    def on_message(self, msg: Inbound) -> None: ...
    def on_published(self) -> None: ...


class MqttClient:
    """One broker connection, kept up until :meth:`stop`."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        will_topic: str,
        subscriptions: Callable[[], list[tuple[str, int]]],
        listener: Listener,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.settings = settings
        self.v5 = settings.protocol == "5"
        self.port = settings.port or (8883 if settings.tls else 1883)
        self.broker = f"{settings.host}:{self.port}"
        self.client_id = client_id
        self.connected = False
        self.last_error = "not connected yet"
        self.refused_backlog = 0
        self.dropped = 0
        """Publications paho would not queue (its queue was full)."""
        self._subscriptions = subscriptions
        self._listener = listener
        self._loop = loop
        self._stopping = threading.Event()
        self._attempts = 0
        self._failures = 0
        self._logged_error = ""
        self._inbox: collections.deque[Inbound] = collections.deque()
        self._drain_scheduled = False
        self._acks_scheduled = False
        self.acked: collections.deque[int] = collections.deque()
        """mids whose PUBACK arrived, for the listener to take (paho calls on_publish before it marks
        the message published, so the message's own flag can still be unset when the listener looks)."""
        self.refused_by_broker: dict[int, str] = {}
        """mid -> reason, for the rare PUBACK that carries a failure (an ACL, say)."""
        self.broker_max_packet: int | None = None
        """The broker's Maximum Packet Size from its CONNACK (MQTT 5), if it named one."""
        self.callback_errors = 0
        """Exceptions caught in paho callbacks (each logged); paho's thread keeps running."""
        self._client = self._build(client_id, will_topic)

    # -- set-up ------------------------------------------------------------------------
    def _build(self, client_id: str, will_topic: str) -> mqtt.Client:
        s = self.settings
        if self.v5:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        else:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=mqtt.MQTTv311,
                clean_session=s.session_expiry_s == 0,
            )
        if s.username:
            client.username_pw_set(s.username, read_password(s.password_file))
        if s.tls:
            try:
                client.tls_set_context(tls_context(s))
            except (OSError, ssl.SSLError) as err:
                raise ConfigError("config-file", f"mqtt TLS files cannot be used: {err}") from err
        client.will_set(will_topic, b"offline", qos=1, retain=True)
        client.reconnect_delay_set(0, 0)  # on_pre_connect waits instead, with jitter
        client.max_inflight_messages_set(20)
        client.max_queued_messages_set(10_000)  # replies in a command flood; beyond it they are counted as dropped
        client.connect_timeout = 5.0
        client.on_socket_open = no_delay
        client.on_pre_connect = self._on_pre_connect  # its OSError is how a stop is seen: not guarded
        client.on_connect = self._guarded(self._on_connect)
        client.on_connect_fail = self._guarded(self._on_connect_fail)
        client.on_disconnect = self._guarded(self._on_disconnect)
        client.on_message = self._guarded(self._on_message)
        client.on_publish = self._guarded(self._on_publish)
        return client

    def _guarded(self, callback: Callable[..., None]) -> Callable[..., None]:
        """A paho callback whose exception is logged and counted instead of ending paho's network thread."""

        def run(*args: Any) -> None:
            try:
                callback(*args)
            except Exception:
                self.callback_errors += 1
                _LOGGER.exception("MQTT callback %s failed", callback.__name__)

        return run

    def start(self) -> None:
        """Connect in the background (an unreachable broker is retried, never waited for)."""
        s = self.settings
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.MaximumPacketSize = s.max_inbound_packet_bytes  # the broker drops bigger ones for us
            if s.session_expiry_s:
                props.SessionExpiryInterval = s.session_expiry_s
            self._client.connect_async(
                s.host, self.port, s.keepalive_s, clean_start=s.session_expiry_s == 0, properties=props
            )
        else:
            self._client.connect_async(s.host, self.port, s.keepalive_s)
        self._client.loop_start()

    def stop(self, offline_topic: str, timeout: float = 2.0) -> None:
        """Publish ``offline`` (the broker sends no will after a clean disconnect) and close; blocking."""
        self._stopping.set()
        if self.connected:
            info = self._client.publish(offline_topic, b"offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self.connected = False

    @property
    def network_alive(self) -> bool:
        """True while paho's network thread runs (for the watchdog: a dead thread never reconnects)."""
        thread = getattr(self._client, "_thread", None)  # paho 2.x keeps its loop_start() thread here
        return self._stopping.is_set() or (isinstance(thread, threading.Thread) and thread.is_alive())

    # -- the event loop's side ---------------------------------------------------------
    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: Properties | None = None
    ) -> mqtt.MQTTMessageInfo | None:
        """Queue a message for the network thread; its info (``is_published()`` after the PUBACK), or None."""
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        except ValueError as err:
            _LOGGER.warning("Cannot publish on %s: %s", topic, err)
            return None
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN) or (qos == 0 and info.rc):
            self.dropped += 1
            return None
        return info

    def reply_properties(self, correlation: bytes | None) -> Properties | None:
        """v5 properties echoing a request's CorrelationData (None on 3.1.1 or without one)."""
        if not self.v5 or correlation is None:
            return None
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = correlation
        return props

    def _drain(self) -> None:
        """Hand arrived messages to the listener, a batch per loop iteration (other tasks run in between)."""
        self._drain_scheduled = False
        for _ in range(256):
            try:
                msg = self._inbox.popleft()
            except IndexError:
                return
            self._listener.on_message(msg)
        if self._inbox and not self._drain_scheduled:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    # -- paho's network thread ----------------------------------------------------------
    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self._attempts += 1
        if self._attempts > 1:
            delay = backoff_delay(
                self._failures, base_s=self.settings.reconnect_min_s, cap_s=self.settings.reconnect_max_s
            )
            self._stopping.wait(delay)
            _restart_keepalive(client)
        if self._stopping.is_set():
            raise OSError("stopping")  # paho treats it as a failed attempt and sees the stop

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._failures += 1
            self._report(
                f"refused the connection: {reason} (check mqtt.username, mqtt.password_file and the broker's ACL)"
            )
            return
        self._failures = 0
        self._logged_error = ""
        self.broker_max_packet = getattr(props, "MaximumPacketSize", None)
        client.subscribe([(topic, self._options(qos)) for topic, qos in self._subscriptions()])
        self.connected = True
        _LOGGER.info("MQTT connected to %s as %s", self.broker, self.client_id)
        self._call(self._listener.on_connected, bool(flags.session_present))

    def _options(self, qos: int) -> Any:
        return SubscribeOptions(qos=qos, noLocal=True) if self.v5 else qos

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._failures += 1
        if self._stopping.is_set():
            return
        self._report(f"unreachable: {diagnose(self.settings, self.port)}")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was = self.connected
        self.connected = False
        if was and not self._stopping.is_set():
            _LOGGER.warning("MQTT connection to %s lost: %s; reconnecting", self.broker, reason)
            self.last_error = f"lost: {reason}"
            self._call(self._listener.on_disconnected, self.last_error)

    def _report(self, error: str) -> None:
        """Log a connection problem once per distinct cause (no log flood while it persists)."""
        level = logging.DEBUG if error == self._logged_error else logging.ERROR
        self.last_error = self._logged_error = error
        _LOGGER.log(level, "MQTT broker %s %s; retrying with backoff", self.broker, error)
        self._call(self._listener.on_disconnected, error)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        expiry = getattr(props, "MessageExpiryInterval", None)
        inbound = Inbound(
            msg.topic,
            bytes(msg.payload),
            bool(msg.retain),
            time.monotonic(),
            getattr(props, "ResponseTopic", None),
            getattr(props, "CorrelationData", None),
            float(expiry) if expiry is not None else None,
        )
        if len(self._inbox) >= MAX_BACKLOG:  # the event loop is far behind: drop here, cheaply
            self.refused_backlog += 1
            if self.refused_backlog in (1, 10, 100) or self.refused_backlog % 1000 == 0:
                _LOGGER.warning("%d MQTT messages dropped on arrival: the event loop is behind", self.refused_backlog)
            return
        self._inbox.append(inbound)
        if not self._drain_scheduled:  # one wake-up of the event loop per batch, not per message
            self._drain_scheduled = True
            self._call(self._drain)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            if len(self.refused_by_broker) > 1000:  # replies nobody tracks: keep it bounded
                self.refused_by_broker.clear()
            self.refused_by_broker[mid] = str(reason)
        self.acked.append(mid)
        if not self._acks_scheduled:  # one wake-up per batch of PUBACKs; the listener checks what is done
            self._acks_scheduled = True
            self._call(self._acks)

    def _acks(self) -> None:
        self._acks_scheduled = False
        self._listener.on_published()

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        call_soon(self._loop, fn, *args)


def properties_length(properties: Properties | None) -> int:
    """Bytes the properties take in a packet, without their own length prefix (0 for none)."""
    if properties is None:
        return 0
    packed = properties.pack()
    prefix = 1
    while prefix < len(packed) and packed[prefix - 1] & 0x80:
        prefix += 1
    return len(packed) - prefix


def _restart_keepalive(client: mqtt.Client) -> None:
    """Count keepalive from now, not from before the backoff wait.

    paho stamps the last traffic just before ``on_pre_connect``; after a wait longer than the
    keepalive its keepalive check would close the new connection before its CONNACK is read,
    every time, and the appliance would never reconnect.  paho 2.x keeps those stamps in
    private fields (``paho-mqtt<3`` is pinned); without them the stamps are left as they are.
    """
    lock = getattr(client, "_msgtime_mutex", None)
    if lock is None or not hasattr(client, "_last_msg_out") or not hasattr(client, "_last_bytes_received"):
        return
    with lock:
        client._last_msg_out = client._last_bytes_received = time.monotonic()
