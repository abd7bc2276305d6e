"""Helpers for MQTT tests: a probe client on the real broker, an in-process appliance, test certificates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance.audio.sink import NullSink
from appliance.audio.source import ArraySource
from appliance.integrations.mqtt.broker import BrokerTls
from appliance.runtime.app import Appliance
from appliance.settings import Settings, settings_from_dict

DEVICE = "testdev"
ROOT = f"appliance/{DEVICE}"


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    correlation: bytes | None
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Probe:
    """A paho client that records everything it hears (a Home Assistant / automation stand-in)."""

    def __init__(
        self,
        port: int,
        *,
        protocol: int = mqtt.MQTTv5,
        topics: tuple[str, ...] = ("#",),
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        client_id: str = "",
        clean: bool = True,
    ) -> None:
        kwargs: dict[str, Any] = {} if protocol == mqtt.MQTTv5 else {"clean_session": clean}
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"probe-{uuid.uuid4().hex[:8]}",
            protocol=protocol,
            **kwargs,
        )
        if username:
            self.client.username_pw_set(username, password)
        if ca_file:
            self.client.tls_set(ca_certs=str(ca_file))
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.port = port

    def __enter__(self) -> Probe:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "probe did not subscribe"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        item = Received(
            msg.topic, bytes(msg.payload), bool(msg.retain), getattr(props, "CorrelationData", None), time.monotonic()
        )
        with self._cond:
            self.messages.append(item)
            self._cond.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def _find(self, topic: str, predicate: Callable[[Received], bool], after: int) -> Received | None:
        with self._cond:
            return next((m for m in self.messages[after:] if m.topic == topic and predicate(m)), None)

    def _missing(self, topic: str, timeout: float) -> AssertionError:
        seen = [(m.topic, m.payload[:80]) for m in self.messages[-15:]]
        return AssertionError(f"nothing on {topic} within {timeout} s; last seen: {seen}")

    def wait_for(
        self, topic: str, predicate: Callable[[Received], bool] = lambda m: True, timeout: float = 10.0, after: int = 0
    ) -> Received:
        """The first message on ``topic`` (from index ``after``) that satisfies ``predicate`` (blocking)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (found := self._find(topic, predicate, after)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._missing(topic, timeout)
                self._cond.wait(left)
            return found

    async def next(
        self, topic: str, predicate: Callable[[Received], bool] = lambda m: True, timeout: float = 10.0, after: int = 0
    ) -> Received:
        """The same, polled from the event loop (the in-process appliance keeps running; no thread is held)."""
        deadline = time.monotonic() + timeout
        while (found := self._find(topic, predicate, after)) is None:
            if time.monotonic() > deadline:
                raise self._missing(topic, timeout)
            await asyncio.sleep(0.005)
        return found

    def mark(self) -> int:
        with self._cond:
            return len(self.messages)

    def send(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False, **props: Any) -> Any:
        """Publish without waiting (paho's thread sends it)."""
        properties = None
        if props:
            properties = Properties(PacketTypes.PUBLISH)
            for key, value in props.items():
                setattr(properties, key, value)
        return self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False, **props: Any) -> None:
        """Publish and wait for the broker's acknowledgement (blocking)."""
        self.send(topic, payload, qos=qos, retain=retain, **props).wait_for_publish(5)

    async def ask(self, command: str, payload: bytes | str = b"", timeout: float = 10.0, **props: Any) -> dict:
        """A v5 request (response topic + correlation data); the decoded answer."""
        corr = uuid.uuid4().bytes
        reply_topic = f"test/replies/{uuid.uuid4().hex[:6]}"
        start = self.mark()
        self.send(f"{ROOT}/cmd/{command}", payload, ResponseTopic=reply_topic, CorrelationData=corr, **props)
        return (await self.next(reply_topic, lambda m: m.correlation == corr, timeout, after=start)).json()


def mqtt_settings(state_dir: Path, port: int, **mqtt_overrides: Any) -> Settings:
    raw: dict[str, Any] = {
        "device": {"id": DEVICE, "name": "Test speaker"},
        "paths": {"state_dir": str(state_dir), "runtime_dir": str(state_dir / "run")},
        "mqtt": {
            "host": "127.0.0.1",
            "port": port,
            "birth_delay_max_s": 0.5,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 2.0,
            "reply_prefixes": ["test/replies"],  # where Probe.ask asks for its answers
            **mqtt_overrides,
        },
    }
    return settings_from_dict(raw)


@contextlib.asynccontextmanager
async def running(
    settings: Settings, engines: Any, registry: Any, samples: np.ndarray | None = None, *, source: Any = None
) -> AsyncIterator[Appliance]:
    """The real appliance (real engines) in this event loop, hearing ``samples`` (or ``source``) then silence,
    until the block ends."""
    audio = np.zeros(1600, dtype=np.int16) if samples is None else samples
    source = source or ArraySource(audio, realtime=True, tail_s=None)
    app = Appliance(settings, engines, registry=registry, source_factory=lambda: source, sink=NullSink(), control=False)
    app.pipeline.earcon = False
    runner = asyncio.create_task(app.run())
    try:
        yield app
    finally:
        app.stop()
        await asyncio.wait_for(runner, 30)


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Blocking probe calls run off the loop, so the appliance keeps working meanwhile."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def make_tls(directory: Path) -> BrokerTls:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost, made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=Test CA")
    openssl("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return BrokerTls(ca, cert, key)


def make_passwords(path: Path, users: dict[str, str]) -> Path:
    for i, (user, password) in enumerate(users.items()):
        flags = ["-c", "-b"] if i == 0 else ["-b"]
        subprocess.run(["mosquitto_passwd", *flags, str(path), user, password], check=True, timeout=30)
    return path
