"""``appliance bench --only wyoming``: the appliance's Wyoming port against the Wyoming peers, in the same run.

The peers are ``wyoming-faster-whisper`` 3.8.1 and ``wyoming-piper`` 2.5.2, installed in their own
virtual environment (never the appliance's)::

    python3 -m venv var/wyoming-peers
    var/wyoming-peers/bin/pip install wyoming-faster-whisper==3.8.1 wyoming-piper==2.5.2

(``APPLIANCE_WYOMING_PEERS`` names another one).  They are started on free loopback ports on
the appliance's own model files, found through the model registry (``--local-files-only`` and
``HF_HUB_OFFLINE``: nothing is downloaded), with the appliance's Whisper settings (compute type,
beam size, threads).  The appliance serves from an in-process daemon on the same engines.
Both are asked the same things over the same client (the ``wyoming`` package's), alternating
request by request so neither gets a quieter machine:

- asr: the transcribe time per request (audio-stop → transcript) over about ten segments of
  real human speech (the manifest's ``speech-*`` recordings, cut at pauses);
- tts: the time to first audio (synthesize → first audio-chunk) and to the last, over ten replies.

With Home Assistant's venv in place (``scripts/setup --dev``), the same servers are then compared
through a real Home Assistant, as its ``wyoming`` integration uses them (``through_home_assistant``,
appliance/bench/wyoming_ha.py).

Ratios are appliance / peer (below 1: the appliance is faster).  Without the peer venv the
section reports ``peer not installed`` and how to make one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.wav import read_wav
from appliance.bench.harness import log, speak
from appliance.bench.wyoming_compare import alternate, asr_report, compare
from appliance.bench.wyoming_ha import SPOKEN, through_home_assistant
from appliance.engines.loader import Engines
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings, as_dict, settings_from_dict

PEERS_ENV = "APPLIANCE_WYOMING_PEERS"
DEFAULT_PEERS = Path("var/wyoming-peers")
MAKE_PEERS = (
    "python3 -m venv var/wyoming-peers && "
    "var/wyoming-peers/bin/pip install wyoming-faster-whisper==3.8.1 wyoming-piper==2.5.2"
)
RECORDINGS = ("beckett", "two-cities", "endgame")
SEGMENTS = 10
SEGMENT_S = (4.0, 8.0)
"""Seconds a speech segment may last: cut at the quietest 100 ms between these."""
REPLIES = (
    "It's seven fifteen in the evening.",
    "I've set a timer for ten minutes.",
    "The kitchen light is now off.",
    "Paris is the capital of France. It has about two million people.",
    "Tomorrow looks sunny, with a high of twenty two degrees.",
    "Sure. I added milk, eggs and bread to your shopping list.",
    "Twelve times eight is ninety six.",
    "Your alarm is set for six thirty tomorrow morning. Sleep well.",
    "The front door is locked, and the garage door is closed.",
    "A kilometre is about zero point six two miles.",
)
READY_S = 180.0
REQUEST_S = 120.0
CHUNK = 1024


async def bench_wyoming(settings: Settings, engines: Engines, registry: ModelRegistry) -> dict[str, Any]:
    """The ``wyoming`` report: per-request times of both servers and their ratios."""
    from appliance.audio.sink import NullSink
    from appliance.runtime.inprocess import running

    peers = Path(os.environ.get(PEERS_ENV, DEFAULT_PEERS))
    python = peers / "bin" / "python"
    if not python.exists():
        return {"peer": "peer not installed", "venv": str(peers), "make_it": MAKE_PEERS}
    clips = speech_segments(registry)
    config = as_dict(settings) | {"memory": {"enabled": False}}
    config["wyoming"] = {"enabled": True, "port": 0, "announce": False, "max_audio_s": 60.0}
    served = settings_from_dict(config)
    async with (
        running(served, engines, registry, NullSink()) as app,
        _peer(_whisper_command(python, settings, registry)) as whisper_port,
        _peer(_piper_command(python, settings, registry)) as piper_port,
    ):
        port = next(f for f in app.features if f.name == "wyoming").port  # type: ignore[attr-defined]
        log(f"wyoming: asr over {len(clips)} speech segments, appliance :{port} vs faster-whisper :{whisper_port}")
        asr = await alternate(port, whisper_port, clips, _transcribe)
        log(f"wyoming: tts over {len(REPLIES)} replies, appliance :{port} vs piper :{piper_port}")
        tts = await alternate(port, piper_port, list(REPLIES), _synthesize)
        spoken = [np.concatenate([speak(engines.tts, text), np.zeros(SAMPLE_RATE // 4, np.int16)]) for text in SPOKEN]
        ha = await through_home_assistant(
            {"appliance": port, "whisper": whisper_port, "piper": piper_port}, clips + spoken, REPLIES
        )
    report = {"peers": _versions(python), "asr": asr_report(asr, clips), "tts": _tts_report(tts)}
    return report | {"through_home_assistant": ha}


def speech_segments(registry: ModelRegistry, count: int = SEGMENTS) -> list[np.ndarray]:
    """Real human speech cut at its pauses into segments of 4-8 s (16 kHz int16)."""
    out: list[np.ndarray] = []
    for name in RECORDINGS:
        audio = read_wav(registry.resolve(f"speech-{name}"), SAMPLE_RATE)
        while len(audio) > SEGMENT_S[0] * SAMPLE_RATE and len(out) < count:
            cut = _quietest(audio, *SEGMENT_S)
            out.append(audio[:cut])
            audio = audio[cut:]
    return out


def _quietest(audio: np.ndarray, low_s: float, high_s: float) -> int:
    window = SAMPLE_RATE // 10
    start, end = int(low_s * SAMPLE_RATE), min(len(audio), int(high_s * SAMPLE_RATE))
    if end - start < window:
        return len(audio)
    energy = [float(np.abs(audio[i : i + window].astype(np.int32)).mean()) for i in range(start, end - window, window)]
    return start + int(np.argmin(energy)) * window + window // 2


# -- the peers -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _whisper_command(python: Path, settings: Settings, registry: ModelRegistry) -> Callable[[int], list[str]]:
    model = registry.resolve(settings.stt.model)
    threads = settings.stt.threads or os.cpu_count() or 1
    stt = settings.stt
    return lambda port: [
        str(python), "-m", "wyoming_faster_whisper", "--uri", f"tcp://127.0.0.1:{port}", "--model", str(model),
        "--data-dir", str(model.parent), "--local-files-only", "--stt-library", "faster-whisper",
        "--language", stt.language, "--compute-type", stt.compute_type, "--beam-size", str(stt.beam_size),
        "--cpu-threads", str(threads),
    ]  # fmt: skip


def _piper_command(python: Path, settings: Settings, registry: ModelRegistry) -> Callable[[int], list[str]]:
    voice = registry.resolve(settings.tts.voice)
    return lambda port: [
        str(python), "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{port}", "--voice", voice.stem,
        "--data-dir", str(voice.parent), "--local-files-only",
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def _peer(command: Callable[[int], list[str]]) -> AsyncIterator[int]:
    """A peer server on a free port, ready (it answers describe), stopped at the end."""
    from wyoming.info import Describe

    port = _free_port()
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + READY_S
        while True:
            if proc.poll() is not None:
                error = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise RuntimeError(f"{command(port)[2]} exited with {proc.returncode}: {error}")
            try:
                async with _client(port) as tcp:
                    await tcp.write_event(Describe().event())
                    if await asyncio.wait_for(tcp.read_event(), 10) is not None:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        yield port
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)


@contextlib.asynccontextmanager
async def _client(port: int) -> AsyncIterator[Any]:
    from wyoming.client import AsyncTcpClient

    tcp = AsyncTcpClient("127.0.0.1", port, connect_timeout=5, read_timeout=REQUEST_S)
    await tcp.connect()
    try:
        yield tcp
    finally:
        await tcp.disconnect()


def _versions(python: Path) -> dict[str, str]:
    code = "import importlib.metadata as m; print(m.version('wyoming-faster-whisper'), m.version('wyoming-piper'))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False).stdout.split()
    return dict(zip(("wyoming-faster-whisper", "wyoming-piper"), out, strict=True)) if len(out) == 2 else {}


# -- the requests ----------------------------------------------------------------------
async def _transcribe(port: int, audio: np.ndarray) -> dict[str, Any]:
    """audio-stop → transcript, one connection per request (as Home Assistant does)."""
    from wyoming.asr import Transcribe, Transcript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop

    async with _client(port) as tcp:
        await tcp.write_event(Transcribe(language="en").event())
        await tcp.write_event(AudioStart(rate=SAMPLE_RATE, width=2, channels=1).event())
        for start in range(0, len(audio), CHUNK):
            piece = audio[start : start + CHUNK].astype("<i2").tobytes()
            await tcp.write_event(AudioChunk(rate=SAMPLE_RATE, width=2, channels=1, audio=piece).event())
        started = time.perf_counter()
        await tcp.write_event(AudioStop().event())
        while (event := await asyncio.wait_for(tcp.read_event(), REQUEST_S)) is not None:
            if Transcript.is_type(event.type):
                seconds = time.perf_counter() - started
                return {"seconds": round(seconds, 4), "text": Transcript.from_event(event).text}
    raise RuntimeError(f"no transcript from port {port}")


async def _synthesize(port: int, text: str) -> dict[str, Any]:
    """synthesize → first audio-chunk, and → audio-stop."""
    from wyoming.tts import Synthesize

    async with _client(port) as tcp:
        started = time.perf_counter()
        await tcp.write_event(Synthesize(text=text).event())
        first, samples, rate = None, 0, 0
        while (event := await asyncio.wait_for(tcp.read_event(), REQUEST_S)) is not None:
            if event.type == "audio-chunk":
                first = first if first is not None else time.perf_counter() - started
                samples += len(event.payload or b"") // 2
                rate = int(event.data.get("rate", rate))
            elif event.type == "audio-stop":
                done = time.perf_counter() - started
                audio_s = samples / rate if rate else 0.0
                return {
                    "first_audio_s": round(first or done, 4),
                    "total_s": round(done, 4),
                    "audio_s": round(audio_s, 3),
                }
    raise RuntimeError(f"no audio-stop from port {port}")


# -- the report ------------------------------------------------------------------------
def _tts_report(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "requests": len(REPLIES),
        "first_audio_s": compare(rows, "first_audio_s"),
        "total_s": compare(rows, "total_s"),
        "audio_s": compare(rows, "audio_s"),
    }
