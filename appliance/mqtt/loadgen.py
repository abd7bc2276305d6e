"""The benchmark's command sender, run as a separate process so it does not share the appliance's interpreter.

Imports only paho and the standard library (a spawned process imports this module afresh).
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
import uuid
from typing import Any

DEVICE = "bench"


def load_generator(port: int, root: str, rate: float, seconds: float, mix: list[tuple[str, bytes]], out: Any) -> None:
    """Send ``rate`` commands/s for ``seconds`` (v5, response topic + correlation); put a summary on ``out``."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    reply_topic = f"bench/replies/{os.getpid()}"
    sent: dict[bytes, float] = {}
    got: dict[bytes, tuple[float, str]] = {}
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(5000)
    client.max_queued_messages_set(0)

    def on_message(c: Any, u: Any, msg: Any) -> None:
        corr = getattr(msg.properties, "CorrelationData", None)
        if corr in sent:
            body = msg.payload
            code = "ok" if b'"ok":true' in body else body.split(b'"code":"', 1)[-1].split(b'"', 1)[0].decode()
            got[corr] = (time.monotonic(), code)

    client.on_message = on_message
    client.on_subscribe = lambda *a: ready.set()
    client.on_socket_open = _no_delay
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(reply_topic, qos=1)
    ready.wait(10)
    start = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        name, payload = mix[i % len(mix)]
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply_topic
        props.CorrelationData = corr = uuid.uuid4().bytes
        sent[corr] = time.monotonic()
        client.publish(f"{root}/cmd/{name}", payload, qos=1, properties=props)
    send_s = time.monotonic() - start
    deadline = time.monotonic() + 30
    while len(got) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    codes: dict[str, int] = {}
    for _, code in got.values():
        codes[code] = codes.get(code, 0) + 1
    latencies = [(got[c][0] - t) for c, t in sent.items() if c in got]
    out.put({"sent": len(sent), "answered": len(got), "codes": codes, "send_s": send_s, "latencies": latencies})


def run_load(port: int, rate: float, seconds: float, mix: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Start the generator process; returns its summary (blocking: call in a thread)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=load_generator, args=(port, f"appliance/{DEVICE}", rate, seconds, mix, queue))
    proc.start()
    result = queue.get(timeout=seconds + 120)
    proc.join(30)
    return dict(result)


def _no_delay(client: Any, userdata: Any, sock: Any) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
