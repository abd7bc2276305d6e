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

    reply_topic = f"{root}/bench-{os.getpid()}/reply"  # replies go only inside the device's tree
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


def run_flood(
    port: int, root: str, rate: float, seconds: float, mix: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """A flood sent by Mosquitto's own C clients (so the sender costs little CPU), answers on one topic.

    Each command carries ``reply_to``, an ``id`` and ``ts`` (its send time); ``mosquitto_sub``
    stamps each answer's arrival, so latency = arrival - ts.
    """
    import json
    import subprocess

    reply_topic = f"{root}/flood-{os.getpid()}/reply"  # replies go only inside the device's tree
    host = ["-h", "127.0.0.1", "-p", str(port)]
    sub = subprocess.Popen(
        ["mosquitto_sub", *host, "-t", reply_topic, "-q", "1", "-F", "%U %p"], stdout=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(sub.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    _wait_subscribed(host, reply_topic, lines)
    pubs = {
        name: subprocess.Popen(
            ["mosquitto_pub", *host, "-t", f"{root}/cmd/{name}", "-l", "-q", "1"], stdin=subprocess.PIPE, text=True
        )
        for name in {name for name, _ in mix}
    }
    sent: dict[int, float] = {}
    start = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0.002:
            for proc in pubs.values():
                proc.stdin.flush()  # type: ignore[union-attr]
            time.sleep(delay)
        name, args = mix[i % len(mix)]
        sent[i] = time.time()
        pubs[name].stdin.write(json.dumps({**args, "reply_to": reply_topic, "id": i, "ts": sent[i]}) + "\n")  # type: ignore[union-attr]
    send_s = time.monotonic() - start
    for proc in pubs.values():
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(60)
    return _collect(sub, lines, sent, send_s)


def _wait_subscribed(host: list[str], topic: str, lines: list[str]) -> None:
    import subprocess

    deadline = time.monotonic() + 10
    while not any('"ready"' in line for line in lines):
        if time.monotonic() > deadline:
            raise RuntimeError("mosquitto_sub did not subscribe")
        subprocess.run(["mosquitto_pub", *host, "-t", topic, "-m", '{"ready": 1}'], check=True, timeout=10)
        time.sleep(0.1)


def _collect(sub: Any, lines: list[str], sent: dict[int, float], send_s: float) -> dict[str, Any]:
    import json

    got: dict[int, tuple[float, str]] = {}
    seen = 0
    deadline = time.monotonic() + 30
    while len(got) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.1)
        fresh, seen = lines[seen:], len(lines)
        for line in fresh:
            stamp, _, body = line.partition(" ")
            data = json.loads(body)
            if "id" in data and data["id"] not in got:  # QoS 1 may deliver twice
                code = "ok" if data.get("ok") else data["error"]["code"]
                got[data["id"]] = (float(stamp), code)
    sub.terminate()
    sub.wait(10)
    codes: dict[str, int] = {}
    for _, code in got.values():
        codes[code] = codes.get(code, 0) + 1
    latencies = [stamp - sent[i] for i, (stamp, _) in got.items()]
    return {"sent": len(sent), "answered": len(got), "codes": codes, "send_s": send_s, "latencies": latencies}
