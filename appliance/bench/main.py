"""``appliance bench``: the figures the README quotes, measured on this machine.

- latency: conversations ("Hey Jarvis" + a request) fed in real time through
  the real pipeline; p50/p95 of every stage and of end of speech → first
  reply audio.  The same recordings also run through a Home-Assistant-style
  chain (0.7 s endpoint, no speculation, Whisper's full 30 s window, speech
  held until ~60 characters of reply exist) for comparison.
- idle: CPU of the whole daemon process while it listens to a quiet room.
- rss: peak resident memory of ``appliance run`` with every default model.
- llm: tokens/s of the adapter vs llama-cpp-python alone on the same prompt.
- vision: CPU of the camera pipeline at 640×480 / 5 fps (empty room, person
  present), frame → PresenceChanged latency, and the voice loop's p50 with
  vision running beside it (``appliance bench --only vision``).
- echo: barge-in through the appliance's own voice in a simulated room (``appliance/bench/echo.py``).
- mqtt: command -> acknowledgement latency while a reply streams, spoken
  intent -> MQTT publish, a 1,000 commands/s flood during a conversation
  (``appliance/bench/mqtt.py``; starts its own Mosquitto).
- quality: the labelled household Q&A set scored with the LLM
  (``appliance/bench/quality.py``).
- endpoint: semantic end of turn (smart-turn) vs the fixed ``vad.end_silence_s`` on real
  recordings with and without pauses inserted mid-clause: endpoint delay, cut-offs, the
  model's latency and RSS (``appliance/bench/endpoint.py``).
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
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.sink import NullSink
from appliance.audio.source import ArraySource
from appliance.audio.wav import write_wav
from appliance.bench.plot import plot_timeline
from appliance.bench.session import HA_END_SILENCE_S, HA_HOLD_CHARS
from appliance.cli.converse import TIMING_KEYS, ConverseResult, converse
from appliance.core.procstat import memory_mb
from appliance.engines.llm.local import generation_threads
from appliance.engines.stt.factory import load_stt
from appliance.models.registry import ModelRegistry
from appliance.runtime.app import Appliance, Engines, load_engines
from appliance.runtime.daemon import make_conversation_audio
from appliance.settings import Settings

REQUESTS = (
    "What is the capital of France?",
    "What time is it?",
    "Tell me a joke about cats.",
    "How far away is the moon?",
    "What should I cook for dinner tonight?",
    "Turn on the kitchen light.",
    "Who wrote Romeo and Juliet?",
    "What is the weather like today?",
)
LLM_PROMPT = "Tell me a short story about a robot who learns to paint."


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 4)


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(results), "answered": sum(r["outcome"] == "answered" for r in results)}
    for key in TIMING_KEYS:
        values = [r["timings"][key] for r in results if r["timings"].get(key) is not None]
        out[key] = {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "n": len(values)}
    return out


async def run_latency(
    settings: Settings,
    engines: Engines,
    registry: ModelRegistry,
    recordings: list[tuple[str, np.ndarray]],
    label: str,
    *,
    hold_chars: int = 0,
) -> tuple[list[dict[str, Any]], list[ConverseResult]]:
    rows, raw = [], []
    for i, (request, audio) in enumerate(recordings, 1):
        out = Path(tempfile.mkdtemp(prefix="bench-")) / "reply.wav"

        def configure(app: Appliance) -> None:
            app.pipeline.hold_chars = hold_chars

        result = await converse(
            settings, engines, registry, audio, realtime=True, pace_output=False, out=out, configure=configure
        )
        data = result.as_dict()
        turn: dict[str, Any] = (
            data["turns"][0] if data["turns"] else {"outcome": "no-wake", "timings": {}, "transcript": ""}
        )
        rows.append(
            {
                "request": request,
                "outcome": turn["outcome"],
                "transcript": turn["transcript"],
                "reply": turn.get("reply", ""),
                "intent": turn.get("intent"),
                "timings": turn["timings"],
            }
        )
        value = turn["timings"].get("end_of_speech_to_first_audio_s")
        log(f"{label} {i}/{len(recordings)}: {turn['outcome']}, end of speech -> first audio {value} s")
        raw.append(result)
    return rows, raw


def make_recordings(engines: Engines, count: int) -> list[tuple[str, np.ndarray]]:
    requests = REQUESTS[:count] if count else REQUESTS
    return [(text, make_conversation_audio(engines.tts, "Hey Jarvis.", text)) for text in requests]


async def measure_idle(settings: Settings, engines: Engines, registry: ModelRegistry, seconds: float) -> float:
    """Percent of one core used by this whole process while listening to a quiet room."""
    rng = np.random.default_rng(7)
    room = (rng.standard_normal(int((seconds + 3) * SAMPLE_RATE)) * 6).astype(np.int16)  # about -75 dBFS
    source = ArraySource(room, realtime=True, tail_s=None)
    app = Appliance(settings, engines, registry=registry, source_factory=lambda: source, sink=NullSink(), control=False)
    runner = asyncio.create_task(app.run())
    await asyncio.sleep(2.0)  # settle: first frames, thread start-up
    cpu0, wall0 = _cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, wall1 = _cpu_seconds(), time.monotonic()
    app.stop()
    await runner
    return round(100.0 * (cpu1 - cpu0) / (wall1 - wall0), 2)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_rss(settings: Settings, engines: Engines) -> dict[str, Any]:
    """Peak RSS of a real ``appliance run`` daemon answering one conversation."""
    work = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    wav = work / "conversation.wav"
    write_wav(wav, make_conversation_audio(engines.tts, "Hey Jarvis.", REQUESTS[0]), SAMPLE_RATE)
    env = {**os.environ, "APPLIANCE_PATHS_STATE_DIR": str(settings.state_dir), "APPLIANCE_PATHS_RUNTIME_DIR": str(work)}
    cmd = [
        sys.executable,
        "-m",
        "appliance",
        "run",
        "--input",
        str(wav),
        "--output",
        str(work / "reply.wav"),
        "--no-control",
    ]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    peak_mb, answered = 0.0, False
    deadline = time.monotonic() + 180
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            peak_mb = max(peak_mb, memory_mb(proc.pid))
            if "event turn" in line:
                answered = "answered" in line
                break
            if time.monotonic() > deadline:
                break
        time.sleep(1.0)
        peak_mb = max(peak_mb, memory_mb(proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"peak_mb": peak_mb, "answered": answered}


def measure_llm(settings: Settings, engines: Engines, registry: ModelRegistry, rounds: int = 3) -> dict[str, Any]:
    """The adapter and llama-cpp-python alone, same model, prompt, threads and sampling."""
    from llama_cpp import Llama

    cfg = replace(settings.llm, temperature=0.0, max_tokens=128)
    messages = [{"role": "system", "content": cfg.system_prompt}, {"role": "user", "content": LLM_PROMPT}]
    adapter = engines.llm
    saved, adapter.settings = adapter.settings, cfg
    threads, batch_threads = generation_threads(cfg)
    raw = Llama(
        model_path=str(registry.resolve(cfg.model)),
        n_ctx=cfg.n_ctx,
        n_threads=threads,
        n_threads_batch=batch_threads,
        n_gpu_layers=cfg.n_gpu_layers,
        verbose=False,
    )
    ours, theirs, first = [], [], []
    try:
        for _ in range(rounds):
            for _piece in adapter.stream(messages, threading.Event()):
                pass
            ours.append(adapter.last.tokens_per_s)
            first.append(adapter.last.first_token_s)
            theirs.append(_raw_tokens_per_s(raw, messages, cfg))
    finally:
        adapter.settings = saved
    ours_m, theirs_m = statistics.median(ours), statistics.median(theirs)
    return {
        "prompt": LLM_PROMPT,
        "threads": threads,
        "adapter_tokens_per_s": round(ours_m, 1),
        "llama_cpp_python_tokens_per_s": round(theirs_m, 1),
        "ratio": round(ours_m / theirs_m, 3) if theirs_m else None,
        "first_token_s_p50": round(statistics.median(first), 4),
    }


def _raw_tokens_per_s(llama: Any, messages: list[dict[str, str]], cfg: Any) -> float:
    time.perf_counter()
    first, count = None, 0
    for chunk in llama.create_chat_completion(
        messages=messages,
        stream=True,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        stop=list(cfg.stop),
    ):
        if chunk["choices"][0]["delta"].get("content"):
            count += 1
            first = first or time.perf_counter()
    end = time.perf_counter()
    return (count - 1) / (end - first) if first and count > 1 and end > first else 0.0


async def _bench(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    registry = ModelRegistry(settings.state_dir, show_progress=True)
    want = _wanted(args)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": _cpu_name()}
    if set(getattr(args, "only", None) or []) == {"endpoint"}:  # needs only its own three models
        return {"machine": machine, "endpoint": await asyncio.to_thread(bench_endpoint, settings, registry)}
    log("loading engines")
    engines = await asyncio.to_thread(load_engines, settings, registry)
    report: dict[str, Any] = {
        "machine": machine,
        "settings": {
            "end_silence_s": settings.vad.end_silence_s,
            "speculate_after_s": settings.vad.speculate_after_s,
            "llm": settings.llm.model,
            "stt": settings.stt.model,
            "tts": settings.tts.voice,
        },
        "load_s": engines.load_s,
    }
    needs_speech = any(want(name) for name in ("latency", "baseline", "vision", "memory"))
    recordings = make_recordings(engines, args.recordings) if needs_speech else []
    if want("latency"):
        rows, raw = await run_latency(settings, engines, registry, recordings, "latency")
        report["latency"] = summarize(rows) | {"per_request": rows}
        if args.plot and raw and raw[0].turns:
            plot_run = await converse(
                settings, engines, registry, recordings[0][1], realtime=True, out=Path(tempfile.mkdtemp()) / "plot.wav"
            )
            plot_timeline(plot_run, args.plot)
            report["plot"] = str(args.plot)
    if want("baseline"):
        base_settings = replace(
            settings,
            vad=replace(settings.vad, end_silence_s=HA_END_SILENCE_S, speculate_after_s=0.0, turn_model="off"),
            stt=replace(settings.stt, short_window=False),
        )
        base_engines = replace(engines, stt=load_stt(base_settings.stt, registry))
        rows, _ = await run_latency(
            base_settings, base_engines, registry, recordings, "ha-style", hold_chars=HA_HOLD_CHARS
        )
        report["ha_style_chain"] = summarize(rows)
    if want("idle"):
        log(f"idle CPU over {args.idle_seconds:.0f} s (voice gate on)")
        on = await measure_idle(settings, engines, registry, args.idle_seconds)
        engines.wake.gate, gate = None, engines.wake.gate
        log(f"idle CPU over {args.idle_seconds:.0f} s (voice gate off: the raw wake chain)")
        off = await measure_idle(settings, engines, registry, args.idle_seconds)
        engines.wake.gate = gate
        report["idle"] = {"cpu_percent_of_one_core": on, "without_voice_gate": off, "seconds": args.idle_seconds}
    if want("llm"):
        log("LLM tokens/s: adapter vs llama-cpp-python alone")
        report["llm"] = await asyncio.to_thread(measure_llm, settings, engines, registry)
    if want("memory") and engines.embedder is not None:
        log(f"memory: retrieval and context build at {args.memory_turns} stored turns")
        from appliance.bench.memory import measure_memory

        report["memory"] = await asyncio.to_thread(
            measure_memory,
            settings,
            engines.embedder,
            engines.emotion,
            engines.llm.count_tokens,
            log,
            turns=args.memory_turns,
        )
        report["memory"]["end_of_speech_to_first_audio_s"] = await memory_on_off(
            settings, engines, registry, recordings[: args.memory_recordings]
        )
    if want("skills"):
        from appliance.bench.skills import measure_skills

        report["skills"] = await measure_skills(settings, engines, registry, log)
    if want("mqtt"):
        from appliance.bench.mqtt import measure_mqtt

        log("MQTT: ack latency, intent -> publish, 1,000 commands/s flood, LLM tool path")
        report["mqtt"] = await measure_mqtt(settings, engines, registry)
    if want("rss"):
        log("peak RSS of `appliance run` with all default models")
        report["rss"] = await asyncio.to_thread(measure_rss, settings, engines)
    if want("vision"):
        report["vision"] = await bench_vision(settings, engines, registry, recordings, args.idle_seconds)
    if want("echo"):
        from appliance.bench.echo import bench_echo

        report["echo"] = await bench_echo(settings, engines, registry, trials=args.recordings)
    if want("endpoint"):
        report["endpoint"] = await asyncio.to_thread(bench_endpoint, settings, registry)
    if want("quality"):
        from appliance.bench.quality import measure_quality

        log("quality: the household Q&A set")
        report["quality"] = await asyncio.to_thread(measure_quality, settings, engines, log)
    if "session" in (getattr(args, "only", None) or []):  # five minutes of real time: only when asked for
        from appliance.bench.session import measure_session

        report["session"] = await asyncio.to_thread(
            measure_session, settings, engines, registry, log, getattr(args, "session_turns", 10)
        )
    return report


def bench_endpoint(settings: Settings, registry: ModelRegistry) -> dict[str, Any]:
    """Semantic vs fixed endpoint on real recordings (``appliance/bench/endpoint.py``); about a minute."""
    from appliance.audio.buffer import resample
    from appliance.audio.wav import read_wav
    from appliance.bench.endpoint import measure_endpoint, measure_rss
    from appliance.engines.smart_turn import MODEL_NAME, SmartTurn
    from appliance.engines.stt.factory import load_stt
    from appliance.engines.tts import PiperTts
    from appliance.engines.vad import SileroDetector
    from appliance.settings import TtsSettings

    log("endpoint: loading Silero, smart-turn, the STT and the Piper voice")
    voice = PiperTts(registry.resolve(settings.tts.voice), TtsSettings(variation=0.0))

    def speak(text: str) -> np.ndarray:
        return resample(voice.synthesize_all(text), voice.sample_rate, SAMPLE_RATE)

    stt = load_stt(settings.stt, registry)
    stt.warm_up()

    def transcribe(audio: np.ndarray) -> tuple[str, float]:
        result = stt.transcribe(audio)
        return result.text, result.seconds

    report = measure_endpoint(
        SileroDetector(registry.resolve("silero-vad")),
        SmartTurn(registry.resolve(MODEL_NAME)),
        speak,
        lambda name: read_wav(registry.resolve(name), SAMPLE_RATE),
        log,
        vad=replace(settings.vad, turn_model="smart-turn"),
        transcribe=transcribe if stt.supports_speculation else None,
    )
    log("endpoint: RSS the turn model adds (child process)")
    report["rss"] = measure_rss(settings.state_dir)
    return report


def _wanted(args: argparse.Namespace) -> Any:
    only = set(getattr(args, "only", []) or [])
    return lambda section: section not in args.skip and (not only or section in only)


async def bench_vision(
    settings: Settings,
    engines: Engines,
    registry: ModelRegistry,
    recordings: list[tuple[str, np.ndarray]],
    seconds: float,
) -> dict[str, Any]:
    """Vision CPU and latency, then the voice loop's p50 with the camera off and on, request by request."""
    from appliance.bench.vision import (
        SceneCamera,
        measure_vision,
        running_vision,
        scene_frames,
    )

    log(f"vision CPU over {seconds:.0f} s per scene, presence latency")
    result = await measure_vision(settings, registry.resolve, seconds)
    camera = SceneCamera({"person": scene_frames(True)}, settings.vision.fps, "person")
    alone: list[dict[str, Any]] = []
    beside: list[dict[str, Any]] = []
    async with running_vision(settings, registry.resolve, camera) as (service, _bus):
        for recording in recordings:  # interleaved, so a busy machine's drift hits both sides alike
            service.set_camera(False)  # closed at the source: the capture thread only waits
            alone += (await run_latency(settings, engines, registry, [recording], "voice, camera off"))[0]
            service.set_camera(True)
            await asyncio.to_thread(service.next_frame, 10.0)
            beside += (await run_latency(settings, engines, registry, [recording], "voice, vision running"))[0]
    off = summarize(alone)["end_of_speech_to_first_audio_s"]["p50"]
    on = summarize(beside)["end_of_speech_to_first_audio_s"]["p50"]
    result["voice_end_of_speech_to_first_audio_p50_s"] = {
        "camera_off": off,
        "vision_running_person_present": on,
        "worse_percent": round(100 * (on - off) / off, 1) if off and on else None,
        "runs": len(recordings),
    }
    return result


async def memory_on_off(
    settings: Settings, engines: Engines, registry: ModelRegistry, recordings: list[tuple[str, np.ndarray]]
) -> dict[str, Any]:
    """The same conversations without memory, then with it (fresh store; turns written as they finish)."""
    if not recordings:
        return {}
    key = "end_of_speech_to_first_audio_s"
    off = replace(settings, memory=replace(settings.memory, enabled=False))
    rows_off, _ = await run_latency(off, engines, registry, recordings, "memory off")
    state = tempfile.mkdtemp(prefix="bench-memory-state-")
    on = replace(settings, paths=replace(settings.paths, state_dir=state))
    rows_on, _ = await run_latency(on, engines, registry, recordings, "memory on")
    return {"memory_off": summarize(rows_off)[key], "memory_on": summarize(rows_on)[key]}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def bench_command(settings: Settings, args: argparse.Namespace) -> int:
    report = asyncio.run(_bench(settings, args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0
