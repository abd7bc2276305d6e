"""Bad input on the Wyoming port: each case closes its connection with a log line and a coded error event,
and the daemon serves on as it was (a describe on a new connection, nothing left open)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest
from wyoming.event import async_read_event
from wyoming.info import Describe

from appliance.integrations.wyoming.framing import MAX_HEADER_BYTES, MAX_PAYLOAD_BYTES

from .wyoming_support import client, raw_exchange, read_until, serving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def line(header: dict) -> bytes:
    return json.dumps(header).encode() + b"\n"


async def still_serving(app, feature) -> None:
    async with client(feature.port) as tcp:
        await tcp.write_event(Describe().event())
        _, info = await read_until(tcp, "info")
    assert info.data["asr"]
    for _ in range(100):  # the closed sessions' tasks finish on the next turns of the loop
        if feature.server.clients == 0:
            break
        await asyncio.sleep(0.01)
    assert feature.server.clients == 0
    assert app.status()["stage"] == "idle"


CASES = {
    "malformed line": (b"this is not json\n", "wyoming-malformed"),
    "header not an object": (b"[1, 2, 3]\n", "wyoming-malformed"),
    "type not a string": (line({"type": 42}), "wyoming-bad-type"),
    "unknown type": (line({"type": "launch-rockets"}), "wyoming-unknown-event"),
    "wrong field type": (line({"type": "synthesize", "data": {"text": 5}}), "wyoming-bad-event"),
    "data not an object": (line({"type": "describe", "data": "x"}), "wyoming-malformed"),
    "oversized header": (b'{"type": "describe", "pad": "' + b"x" * (MAX_HEADER_BYTES + 10), "wyoming-header-too-large"),
    "oversized payload": (
        line({"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, "payload_length": 1 << 30}),
        "wyoming-payload-too-large",
    ),
    "oversized data": (line({"type": "synthesize", "data_length": 1 << 30}), "wyoming-data-too-large"),
    "negative length": (line({"type": "describe", "payload_length": -1}), "wyoming-malformed"),
    "bad audio format": (
        line({"type": "audio-start", "data": {"rate": 16000, "width": 4, "channels": 1}}),
        "wyoming-bad-audio",
    ),
    "deep nesting": (b'{"type": "describe", "data": ' + b"[" * 5000 + b"\n", "wyoming-malformed"),
}


async def test_each_bad_event_closes_its_connection_with_a_coded_error(tmp_path: Path, engines, registry, caplog):
    caplog.set_level(logging.WARNING, logger="appliance.integrations.wyoming")
    async with serving(tmp_path, engines, registry) as (app, feature):
        for name, (data, code) in CASES.items():
            caplog.clear()
            events = await raw_exchange(feature.port, data)
            assert [e.type for e in events] == ["error"], name
            assert events[0].data["code"] == code, (name, events[0].data)
            assert any(code in r.getMessage() for r in caplog.records), name
            await still_serving(app, feature)
        closed = app.status()["wyoming"]["closed_for"]
    assert sum(closed.values()) == len(CASES)


async def test_a_half_sent_frame_is_closed_at_the_idle_timeout(tmp_path: Path, engines, registry, caplog):
    caplog.set_level(logging.WARNING, logger="appliance.integrations.wyoming")
    async with serving(tmp_path, engines, registry, idle_timeout_s=1.0) as (app, feature):
        header = {"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, "payload_length": 2048}
        started = time.monotonic()
        events = await raw_exchange(feature.port, line(header) + b"\0" * 100)  # 100 of the 2048 bytes, then nothing
        waited = time.monotonic() - started
        silent = await raw_exchange(feature.port, b"")  # connects and says nothing at all
        await still_serving(app, feature)
    assert [e.data["code"] for e in events + silent] == ["wyoming-idle", "wyoming-idle"]
    assert 0.9 < waited < 5.0
    assert any("wyoming-idle" in r.getMessage() for r in caplog.records)


async def test_too_much_audio_or_text_is_refused(tmp_path: Path, engines, registry):
    fmt = {"rate": 16000, "width": 2, "channels": 1}
    chunk = line({"type": "audio-chunk", "data": fmt, "payload_length": 32000}) + b"\0" * 32000  # 1 s
    long_text = line({"type": "synthesize", "data": {"text": "word " * 300}})
    async with serving(tmp_path, engines, registry, max_audio_s=2.0, max_text_chars=1000) as (app, feature):
        audio = await raw_exchange(feature.port, line({"type": "transcribe"}) + chunk * 3)
        reader, writer = await asyncio.open_connection("127.0.0.1", feature.port)
        writer.write(line({"type": "detect"}) + chunk * 5 + line({"type": "audio-stop"}))  # 5 s: a wake stream
        wake = [await asyncio.wait_for(async_read_event(reader), 30)]  # is not held, so it may run as long as it must
        writer.close()
        text = await raw_exchange(feature.port, long_text)
        await still_serving(app, feature)
    assert [e.data["code"] for e in audio if e.type == "error"] == ["wyoming-audio-too-long"]
    assert [e.data["code"] for e in text] == ["wyoming-text-too-long"]
    assert [e.type for e in wake if e is not None] == ["not-detected"]
    assert MAX_PAYLOAD_BYTES >= 32000


async def test_a_hundred_connects_at_once_leave_the_daemon_as_it_was(tmp_path: Path, engines, registry, caplog):
    caplog.set_level(logging.WARNING, logger="appliance.integrations.wyoming")
    async with serving(tmp_path, engines, registry, max_clients=8, idle_timeout_s=2.0) as (app, feature):
        threads = app.status()["threads"]
        opened = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", feature.port) for _ in range(100)), return_exceptions=True
        )
        writers = [c[1] for c in opened if not isinstance(c, BaseException)]
        closed, idle = 0, 0
        for reader, _ in (c for c in opened if not isinstance(c, BaseException)):
            try:  # to the end: nothing (refused at accept), or the idle timeout's error event (served)
                idle += b"wyoming-idle" in await asyncio.wait_for(reader.read(), 5.0)
                closed += 1
            except ConnectionError:
                closed += 1
        for writer in writers:
            writer.close()
        status = app.status()["wyoming"]
        await still_serving(app, feature)
        after = app.status()
    assert len(writers) == 100
    assert status["refused"] >= 92 and closed == 100 and idle == 100 - status["refused"]
    assert after["threads"] <= threads + 2  # no thread per connection (at most the two Wyoming workers)
    assert any("max_clients" in r.getMessage() for r in caplog.records)
