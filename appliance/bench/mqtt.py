"""``appliance bench --only mqtt``: command latency, intent-to-publish time, a 1,000 commands/s flood.

Everything runs against a private Mosquitto started here.  Commands come
from a separate process (:func:`load_generator`), so the sender does not
share the appliance's interpreter; the appliance runs with the real engines.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import FRAME_SECONDS, SAMPLE_RATE
from appliance.audio.sink import NullSink
from appliance.audio.source import ArraySource
from appliance.bench.harness import conversation_audio
from appliance.bench.mqtt_loadgen import run_flood, run_load
from appliance.cli.converse import voiced_segments
from appliance.home.evaluation import tool_accuracy
from appliance.integrations.mqtt.broker import Mosquitto
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Appliance, Engines
from appliance.settings import HomeDevice, Settings

DEVICE = "bench"
LIGHT = HomeDevice(name="kitchen light", area="kitchen", command_topic="home/kitchen/light/set")
STORY = "Tell me a long story about a lighthouse keeper and his cat."


def rank_percentile(values: list[float], q: float) -> float | None:
    """The value at rank ``q * n`` of the sorted values: nearest rank, where :func:`harness.percentile` interpolates."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)], 4)


# -- the appliance under test --------------------------------------------------------------------


def bench_settings(settings: Settings, state_dir: Path, port: int) -> Settings:
    mqtt = replace(settings.mqtt, host="127.0.0.1", port=port, devices=(LIGHT,), birth_delay_max_s=0.5)
    return replace(
        settings,
        device=replace(settings.device, id=DEVICE),
        paths=replace(settings.paths, state_dir=str(state_dir)),
        mqtt=mqtt,
    )


class Harness:
    """An in-process appliance on the private broker, hearing ``samples`` (then silence)."""

    def __init__(self, settings: Settings, engines: Engines, registry: ModelRegistry, samples: np.ndarray) -> None:
        self.source = ArraySource(samples, realtime=True, tail_s=None)
        self.app = Appliance(
            settings, engines, registry=registry, source_factory=lambda: self.source, sink=NullSink(), control=False
        )
        self.app.pipeline.earcon = False
        self.lags: list[float] = []
        self._runner: asyncio.Task[int] | None = None

    async def __aenter__(self) -> Harness:
        self._runner = asyncio.create_task(self.app.run())
        deadline = time.monotonic() + 20
        while not (self.app.mqtt is not None and self.app.mqtt.connected):
            if time.monotonic() > deadline:
                raise RuntimeError("the appliance did not connect to the benchmark broker")
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.app.stop()
        assert self._runner is not None
        await asyncio.wait_for(self._runner, 60)

    async def watch_frames(self, stop: asyncio.Event) -> None:
        """How late the audio thread is: now minus when its latest frame was captured."""
        fe = self.app.frontend
        while not stop.is_set():
            if fe.frames:
                due = self.source.wall_time_of(fe.frames * FRAME_SECONDS)
                self.lags.append(max(0.0, time.monotonic() - due - FRAME_SECONDS))
            await asyncio.sleep(0.02)


async def wait_turn(app: Appliance, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while len(app.pipeline.history) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


# -- the figures ----------------------------------------------------------------------------------


async def ack_latency(settings: Settings, engines: Engines, registry: ModelRegistry, port: int) -> dict[str, Any]:
    """Command -> acknowledgement on loopback while replies stream (20 commands/s for 10 s)."""
    async with Harness(settings, engines, registry, np.zeros(1600, dtype=np.int16)) as h:
        stop = asyncio.Event()
        busy: list[bool] = []

        async def keep_talking() -> None:
            while not stop.is_set():
                await h.app.commands.execute("ask", {"text": STORY})

        async def sample_stage() -> None:
            while not stop.is_set():
                busy.append(h.app.pipeline.stage.value in ("thinking", "speaking"))
                await asyncio.sleep(0.02)

        talker = asyncio.create_task(keep_talking())
        while h.app.pipeline.stage.value == "idle":
            await asyncio.sleep(0.02)
        sampler = asyncio.create_task(sample_stage())
        mix = [("volume", b"40"), ("status", b""), ("volume", b"60"), ("sensitivity", b"0.5")]
        load = await asyncio.to_thread(run_load, port, 20.0, 10.0, mix)
        stop.set()
        await h.app.pipeline.interrupt()
        await asyncio.wait_for(asyncio.gather(talker, sampler, return_exceptions=True), 60)
    ms = [x * 1000 for x in load["latencies"]]
    return {
        "commands": load["sent"],
        "answered": load["answered"],
        "p50_ms": rank_percentile(ms, 0.5),
        "p99_ms": rank_percentile(ms, 0.99),
        "max_ms": round(max(ms), 2) if ms else None,
        "reply_streaming_fraction": round(sum(busy) / max(len(busy), 1), 3),
        "target_p99_ms": 20,
    }


async def intent_latency(
    settings: Settings, engines: Engines, registry: ModelRegistry, port: int, rounds: int = 5
) -> dict[str, Any]:
    """ "Hey Jarvis. Turn on the kitchen light." spoken -> the light's MQTT message (fast path, no LLM)."""
    import paho.mqtt.client as mqtt

    one = conversation_audio(engines.tts, "Turn on the kitchen light.")
    gap = np.zeros(int(2.0 * SAMPLE_RATE), dtype=np.int16)
    samples = np.concatenate([one, gap] * rounds)
    segments = voiced_segments(samples)
    arrivals: list[float] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: arrivals.append(time.monotonic())
    sub.connect("127.0.0.1", port)
    sub.subscribe(LIGHT.command_topic, qos=1)
    sub.loop_start()
    try:
        async with Harness(settings, engines, registry, samples) as h:
            await wait_turn(h.app, rounds, timeout=30.0 * rounds)
            deadline = time.monotonic() + 5
            while len(arrivals) < len(h.app.pipeline.history) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            turns = list(h.app.pipeline.history)
            wall = h.source.wall_time_of
    finally:
        sub.disconnect()
        sub.loop_stop()
    rows: list[dict[str, Any]] = []
    for turn, arrived in zip(turns, arrivals, strict=False):  # a missed publish shows as fewer rows
        ends = [end for _, end in segments if turn.endpoint_at_s is not None and end <= turn.endpoint_at_s + 0.02]
        speech_end = wall(ends[-1]) if ends else None
        rows.append(
            {
                "transcript": turn.transcript,
                "end_of_speech_to_publish_s": _diff(arrived, speech_end),
                "endpoint_to_publish_s": _diff(arrived, turn.endpoint_mono),
                "endpoint_delay_s": round(turn.endpoint_mono - speech_end, 4)
                if turn.endpoint_mono and speech_end
                else None,
                "stt_s": turn.stt_s,
                "llm_used": bool(turn.marks and turn.marks.llm_started is not None),
            }
        )

    def p50(key: str) -> float | None:
        return rank_percentile([r[key] for r in rows if r[key] is not None], 0.5)

    return {
        "rounds": rounds,
        "published": len(arrivals),
        "end_of_speech_to_publish_s_p50": p50("end_of_speech_to_publish_s"),
        "endpoint_to_publish_s_p50": p50("endpoint_to_publish_s"),
        "endpoint_delay_s_p50": p50("endpoint_delay_s"),
        "stt_s_p50": p50("stt_s"),
        "llm_used": any(r["llm_used"] for r in rows),
        "target": "endpoint -> publish <= STT time + 50 ms, no LLM",
        "per_round": rows,
    }


FLOOD_MIX: list[tuple[str, dict[str, Any]]] = [
    ("volume", {"level": 50}),
    ("status", {}),
    ("volume", {"level": 51}),
    ("sensitivity", {"value": 0.5}),
    ("say", {"text": "Flood."}),
    ("volume", {"level": 52}),
    ("status", {}),
    ("ask", {"text": "Hi.", "speak": False}),
    ("wake_word", {"models": [1]}),
    ("volume", {"level": "x"}),
]
"""Good and bad commands, cheap and expensive ones, speech included."""


async def conversation_during(
    settings: Settings, engines: Engines, registry: ModelRegistry, port: int, flood: tuple[float, float] | None
) -> dict[str, Any]:
    """One spoken question answered while ``flood`` = (commands/s, seconds) arrive (or none)."""
    talk = conversation_audio(engines.tts, "What is the capital of France?")
    lead = np.zeros(int(3.0 * SAMPLE_RATE), dtype=np.int16)
    samples = np.concatenate([lead, talk])
    speech_end_s = voiced_segments(samples)[-1][1]
    async with Harness(settings, engines, registry, samples) as h:
        stop = asyncio.Event()
        watcher = asyncio.create_task(h.watch_frames(stop))
        cpu0, wall0 = _cpu(), time.monotonic()
        load = await asyncio.to_thread(run_flood, port, f"appliance/{DEVICE}", *flood, FLOOD_MIX) if flood else None
        await wait_turn(h.app, 1, timeout=120)
        while h.app.pipeline.turn is not None or len(h.app.pipeline.history) < 1:
            await asyncio.sleep(0.05)
        cpu = (_cpu() - cpu0) / (time.monotonic() - wall0)
        stop.set()
        await watcher
        voice = [t for t in h.app.pipeline.history if t.source == "voice"]
        alive = {name: h.app.supervisor.alive(name) for name in ("pipeline", "audio", "mqtt-events", "mqtt-speech")}
        first = voice[0] if voice else None
        e2e = None
        if first is not None and first.first_audio_mono is not None:
            e2e = round(first.first_audio_mono - h.source.wall_time_of(speech_end_s), 4)
        result: dict[str, Any] = {
            "voice_turn": first.outcome if first else "no-wake",
            "transcript": first.transcript if first else "",
            "end_of_speech_to_first_audio_s": e2e,
            "audio_frame_lag_ms_p99": rank_percentile([x * 1000 for x in h.lags], 0.99),
            "audio_frame_lag_ms_max": round(max(h.lags) * 1000, 1) if h.lags else None,
            "dropped_bus_events": h.app.bus.stats(),
            "loops_alive": alive,
            "mqtt_connected": h.app.mqtt is not None and h.app.mqtt.connected,
            "process_cpu_percent": round(100 * cpu, 1),
        }
    if load is not None:
        result["commands"] = {
            "rate_per_s": flood[0] if flood else 0,
            "sent": load["sent"],
            "answered_or_refused": load["answered"],
            "unanswered": load["sent"] - load["answered"],
            "by_outcome": load["codes"],
            "send_s": round(load["send_s"], 2),
            "reply_latency_ms_p99": rank_percentile([x * 1000 for x in load["latencies"]], 0.99),
        }
    return result


def _diff(a: float | None, b: float | None) -> float | None:
    return round(a - b, 4) if a is not None and b is not None else None


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


async def measure_mqtt(settings: Settings, engines: Engines, registry: ModelRegistry) -> dict[str, Any]:
    """Every MQTT figure, against a private Mosquitto."""
    work = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    broker = Mosquitto(work / "broker").start()
    try:
        cfg = bench_settings(settings, work / "state", broker.port)
        report: dict[str, Any] = {
            "broker": "mosquitto (private, loopback)",
            "command_rate_limit": cfg.mqtt.command_rate,
        }
        report["ack_latency"] = await ack_latency(cfg, engines, registry, broker.port)
        report["intent_to_publish"] = await intent_latency(cfg, engines, registry, broker.port)
        quiet = await conversation_during(cfg, engines, registry, broker.port, None)
        flooded = await conversation_during(cfg, engines, registry, broker.port, (1000.0, 10.0))
        report["flood"] = {"quiet": quiet, "during_1000_per_s": flooded}
        report["tool_path"] = await asyncio.to_thread(tool_accuracy, engines.llm)
        return report
    finally:
        broker.stop()
