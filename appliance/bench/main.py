"""``appliance bench``: the figures the README quotes, measured on this machine.

Each section is its own module; this one loads the engines once and runs the sections asked for.

- latency: conversations ("Hey Jarvis" + a request) fed in real time through
  the real pipeline; p50/p95 of every stage and of end of speech → first
  reply audio (``appliance/bench/latency.py``).
- baseline: the same recordings through a Home-Assistant-style chain (0.7 s endpoint, no
  speculation, Whisper's full 30 s window, speech held until ~60 characters of reply exist)
  for comparison (``appliance/bench/baseline.py``).
- idle: CPU of the whole daemon process while it listens to a quiet room.
- rss: peak resident memory of ``appliance run`` with every default model (``appliance/bench/rss.py``).
- llm: tokens/s of the adapter vs llama-cpp-python alone on the same prompt (``appliance/bench/llm.py``).
- memory: retrieval and context build at 100,000 stored turns, and first audio with memory off
  and on (``appliance/bench/memory.py``).
- skills: a skill turn's latency, timer accuracy, phrasing accuracy (``appliance/bench/skills.py``).
- vision: CPU of the camera pipeline at 640×480 / 5 fps (empty room, person
  present), frame → PresenceChanged latency, and the voice loop's p50 with
  vision running beside it (``appliance/bench/vision.py``).
- echo: barge-in through the appliance's own voice in a simulated room (``appliance/bench/echo.py``).
- mqtt: command -> acknowledgement latency while a reply streams, spoken
  intent -> MQTT publish, a 1,000 commands/s flood during a conversation
  (``appliance/bench/mqtt.py``; starts its own Mosquitto).
- quality: the labelled household Q&A set scored with the LLM
  (``appliance/bench/quality.py``).
- understanding: the labelled everyday requests (``tests/data/understanding_en.tsv``, or ``--set``)
  through a turn's matcher chain: intent and value accuracy per intent, the share left to the LLM,
  recognition time p50/p99, and with 300 devices in 50 areas (``appliance/bench/understanding.py``).
- endpoint: semantic end of turn (smart-turn) vs the fixed ``vad.end_silence_s`` on real
  recordings with and without pauses inserted mid-clause: endpoint delay, cut-offs, the
  model's latency and RSS (``appliance/bench/endpoint.py``).
- rooms: three ``appliance run`` daemons on a private Mosquitto hear one wake word at different
  levels and noise: exactly one answers, the best placed, end of wake word -> decision, double
  actions, with 20 ms of broker delay, a clock 5 s off, the broker stopped; against Home
  Assistant's first-wins rule (``appliance/bench/rooms.py``).
- wyoming: the Wyoming port against wyoming-faster-whisper and wyoming-piper in their own venv, in the
  same run: transcribe time and TTS time to first audio as ratios (``appliance/bench/wyoming.py``).
- session: one ``appliance run`` daemon fed in real time from outside, a
  ten turns (--session-turns) of one conversation with memory on, first audio timed on its
  output stream, against the HA-style chain (``appliance/bench/session.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.bench.harness import Recording, log, measure_idle
from appliance.bench.latency import make_recordings
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Engines, load_engines
from appliance.settings import Settings

NEEDS_SPEECH = ("latency", "baseline", "vision", "memory")
"""Sections that run the latency section's recordings."""


@dataclass(frozen=True)
class Run:
    """What every section gets: the settings, the engines loaded once, the recordings, the command line."""

    settings: Settings
    engines: Engines
    registry: ModelRegistry
    recordings: list[Recording]
    args: argparse.Namespace


Section = Callable[[Run], Awaitable[dict[str, Any]]]
"""A section's measurement: the report entries it adds."""


def bench_command(settings: Settings, args: argparse.Namespace) -> int:
    """``appliance bench``: print the report as JSON (and write it to ``--out``)."""
    report = asyncio.run(_bench(settings, args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


async def _bench(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    registry = ModelRegistry(settings.state_dir, show_progress=True)
    want = _wanted(args)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": _cpu_name()}
    if set(args.only or []) == {"endpoint"}:  # needs only its own three models
        from appliance.bench.endpoint import bench_endpoint

        return {"machine": machine, "endpoint": await asyncio.to_thread(bench_endpoint, settings, registry)}
    if set(args.only or []) == {"rooms"}:  # its own daemons; the bench itself needs only the Piper voice
        return {"machine": machine, "rooms": await _rooms(settings, registry, args)}
    log("loading engines")
    engines = await asyncio.to_thread(load_engines, settings, registry)
    report: dict[str, Any] = {"machine": machine, "settings": _settings_summary(settings), "load_s": engines.load_s}
    needs_speech = any(want(name) for name in NEEDS_SPEECH)
    recordings = make_recordings(engines, args.recordings) if needs_speech else []
    run = Run(settings, engines, registry, recordings, args)
    for name, section in SECTIONS:
        if want(name) and (name != "memory" or engines.embedder is not None):
            report |= await section(run)
    if "session" in (args.only or []):  # five minutes of real time: only when asked for
        report |= await _session(run)
    if "wyoming" in (args.only or []):  # needs the Wyoming peers' own venv: only when asked for
        from appliance.bench.wyoming import bench_wyoming

        report["wyoming"] = await bench_wyoming(settings, engines, registry)
    if "rooms" in (args.only or []):  # three daemons, about a quarter of an hour: only when asked for
        report["rooms"] = await _rooms(settings, registry, args)
    return report


def _wanted(args: argparse.Namespace) -> Callable[[str], bool]:
    only = set(args.only or [])
    return lambda section: section not in args.skip and (not only or section in only)


def _settings_summary(settings: Settings) -> dict[str, Any]:
    return {
        "end_silence_s": settings.vad.end_silence_s,
        "speculate_after_s": settings.vad.speculate_after_s,
        "llm": settings.llm.model,
        "stt": settings.stt.model,
        "tts": settings.tts.voice,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# -- the sections, in the report's order ---------------------------------------------------------
async def _latency(run: Run) -> dict[str, Any]:
    from appliance.bench.latency import measure_latency

    return await measure_latency(run.settings, run.engines, run.registry, run.recordings, run.args.plot)


async def _baseline(run: Run) -> dict[str, Any]:
    from appliance.bench.baseline import measure_baseline

    return {"ha_style_chain": await measure_baseline(run.settings, run.engines, run.registry, run.recordings)}


async def _idle(run: Run) -> dict[str, Any]:
    """Idle CPU with the wake word's voice gate on, then off (the raw wake chain)."""
    seconds, wake = run.args.idle_seconds, run.engines.wake
    log(f"idle CPU over {seconds:.0f} s (voice gate on)")
    on = await measure_idle(run.settings, run.engines, run.registry, seconds)
    wake.gate, gate = None, wake.gate
    log(f"idle CPU over {seconds:.0f} s (voice gate off: the raw wake chain)")
    off = await measure_idle(run.settings, run.engines, run.registry, seconds)
    wake.gate = gate
    return {"idle": {"cpu_percent_of_one_core": on, "without_voice_gate": off, "seconds": seconds}}


async def _llm(run: Run) -> dict[str, Any]:
    from appliance.bench.llm import measure_llm

    log("LLM tokens/s: adapter vs llama-cpp-python alone")
    return {"llm": await asyncio.to_thread(measure_llm, run.settings, run.engines, run.registry)}


async def _memory(run: Run) -> dict[str, Any]:
    from appliance.bench.memory import bench_memory

    recordings = run.recordings[: run.args.memory_recordings]
    turns = run.args.memory_turns
    return {"memory": await bench_memory(run.settings, run.engines, run.registry, recordings, turns=turns)}


async def _skills(run: Run) -> dict[str, Any]:
    from appliance.bench.skills import measure_skills

    return {"skills": await measure_skills(run.settings, run.engines, run.registry, log)}


async def _mqtt(run: Run) -> dict[str, Any]:
    from appliance.bench.mqtt import measure_mqtt

    log("MQTT: ack latency, intent -> publish, 1,000 commands/s flood, LLM tool path")
    return {"mqtt": await measure_mqtt(run.settings, run.engines, run.registry)}


async def _rss(run: Run) -> dict[str, Any]:
    from appliance.bench.rss import measure_rss

    log("peak RSS of `appliance run` with all default models")
    return {"rss": await asyncio.to_thread(measure_rss, run.settings, run.engines)}


async def _vision(run: Run) -> dict[str, Any]:
    from appliance.bench.vision import bench_vision

    seconds = run.args.idle_seconds
    return {"vision": await bench_vision(run.settings, run.engines, run.registry, run.recordings, seconds)}


async def _echo(run: Run) -> dict[str, Any]:
    from appliance.bench.echo import bench_echo

    return {"echo": await bench_echo(run.settings, run.engines, run.registry, trials=run.args.recordings)}


async def _endpoint(run: Run) -> dict[str, Any]:
    from appliance.bench.endpoint import bench_endpoint

    return {"endpoint": await asyncio.to_thread(bench_endpoint, run.settings, run.registry)}


async def _quality(run: Run) -> dict[str, Any]:
    from appliance.bench.quality import measure_quality

    log("quality: the household Q&A set")
    return {"quality": await asyncio.to_thread(measure_quality, run.settings, run.engines, log)}


async def _understanding(run: Run) -> dict[str, Any]:
    from appliance.bench.understanding import measure_understanding

    set_path, verbose = getattr(run.args, "set", None), getattr(run.args, "verbose", False)
    return {
        "understanding": await measure_understanding(
            run.settings, run.engines, run.registry, log, set_path=set_path, verbose=verbose
        )
    }


async def _session(run: Run) -> dict[str, Any]:
    from appliance.bench.session import measure_session

    turns = getattr(run.args, "session_turns", 10)
    return {"session": await asyncio.to_thread(measure_session, run.settings, run.engines, run.registry, log, turns)}


async def _rooms(settings: Settings, registry: ModelRegistry, args: argparse.Namespace) -> dict[str, Any]:
    from appliance.bench.rooms import bench_rooms

    options = {
        "trials": getattr(args, "rooms_trials", 50),
        "short_trials": getattr(args, "rooms_short_trials", 20),
        "window_ms": getattr(args, "rooms_window_ms", None),
    }
    return await asyncio.to_thread(bench_rooms, settings, registry, log, **options)


SECTIONS: tuple[tuple[str, Section], ...] = (
    ("latency", _latency),
    ("baseline", _baseline),
    ("idle", _idle),
    ("llm", _llm),
    ("memory", _memory),
    ("skills", _skills),
    ("mqtt", _mqtt),
    ("rss", _rss),
    ("vision", _vision),
    ("echo", _echo),
    ("endpoint", _endpoint),
    ("quality", _quality),
    ("understanding", _understanding),
)
"""Every section run unless skipped; ``session`` (five minutes of real time) runs only when asked for."""
