"""One-shot CLI commands: through the daemon's socket when it runs, with local engines otherwise."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import numpy as np

from .audio.sink import AudioSink, SpeakerSink, WavSink
from .audio.wav import read_wav, write_wav
from .chunker import SentenceChunker
from .control import ControlClient
from .errors import ControlError
from .llm import LlamaLlm
from .models import ModelRegistry
from .settings import Settings
from .stt.factory import load_stt
from .tts import PiperTts


def _client(settings: Settings) -> ControlClient:
    return ControlClient(settings.socket_path, timeout=120.0)


def _print(data: Any, as_json: bool, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else text)


def ask(settings: Settings, args: argparse.Namespace) -> int:
    client = _client(settings)
    if not args.local and args.out is None and client.available():
        result = client.call("ask", {"text": args.text})
        _print(result, args.json, result["reply"])
        return 0
    registry = ModelRegistry(settings.state_dir)
    llm = LlamaLlm(registry.resolve(settings.llm.model), settings.llm)
    tts = PiperTts(registry.resolve(settings.tts.voice), settings.tts)
    sink = _sink(settings, args.out)
    messages = [*llm.system_messages(), {"role": "user", "content": args.text}]
    chunker = SentenceChunker(settings.tts.first_chunk_chars)
    parts: list[str] = []
    started = time.monotonic()
    first_audio = None
    for piece in llm.stream(messages, threading.Event()):
        for sentence in chunker.push(piece):
            parts.append(sentence)
            sink.play(tts.synthesize_all(sentence), tts.sample_rate)
            first_audio = first_audio or time.monotonic()
    rest = chunker.flush()
    if rest:
        parts.append(rest)
        sink.play(tts.synthesize_all(rest), tts.sample_rate)
        first_audio = first_audio or time.monotonic()
    sink.close()
    reply = " ".join(parts)
    stats = llm.last
    result = {
        "question": args.text,
        "reply": reply,
        "reply_wav": str(args.out) if args.out else None,
        "llm_first_token_s": round(stats.first_token_s, 3),
        "tokens_per_s": round(stats.tokens_per_s, 1),
        "first_audio_s": round(first_audio - started, 3) if first_audio else None,
    }
    _print(result, args.json, reply)
    return 0


def say(settings: Settings, args: argparse.Namespace) -> int:
    client = _client(settings)
    if not args.local and args.out is None and client.available():
        client.call("say", {"text": args.text})
        return 0
    registry = ModelRegistry(settings.state_dir)
    tts = PiperTts(registry.resolve(settings.tts.voice), settings.tts)
    audio = tts.synthesize_all(args.text)
    if args.out is not None:
        write_wav(args.out, _scaled(audio, settings.audio.volume), tts.sample_rate)
        return 0
    sink = _sink(settings, None)
    sink.play(audio, tts.sample_rate)
    sink.close()
    return 0


def transcribe(settings: Settings, args: argparse.Namespace) -> int:
    registry = ModelRegistry(settings.state_dir)
    audio = read_wav(args.wav)
    stt = load_stt(settings.stt, registry)
    result = stt.transcribe(audio)
    data = {
        "text": result.text,
        "language": result.language,
        "audio_s": round(result.audio_s, 3),
        "stt_s": round(result.seconds, 3),
        "window": result.window,
    }
    _print(data, args.json, result.text)
    return 0


def _sink(settings: Settings, out: Any) -> AudioSink:
    if out is not None:
        return WavSink(out, realtime=False, volume=100)
    return SpeakerSink(settings.audio.output_device, volume=settings.audio.volume)


def _scaled(audio: np.ndarray, volume: int) -> np.ndarray:
    return audio if volume >= 100 else (audio.astype(np.float32) * (volume / 100) ** 2).astype(np.int16)


_DAEMON_ARGS = {
    "mute": lambda a: {"state": a.state},
    "volume": lambda a: {"level": a.level},
    "wake-word": lambda a: {"models": a.models},
    "sensitivity": lambda a: {"value": a.value},
    "camera": lambda a: {"state": a.state},
}


def daemon_command(settings: Settings, args: argparse.Namespace) -> int:
    """Commands that only make sense against a running daemon (status, mute, …)."""
    command = args.command
    payload = _DAEMON_ARGS.get(command, lambda a: {})(args)
    try:
        result = _client(settings).call(command.replace("-", "_"), payload)
    except ControlError as err:
        if err.code == "daemon-not-running":
            print(
                f"appliance: {err.message}; start it with: appliance run (or systemctl start appliance)",
                file=sys.stderr,
            )
            return 1
        raise
    if command == "status" and not getattr(args, "json", False):
        print(_status_text(result))
    else:
        print(json.dumps(result, indent=2, default=str))
    return 0


def _status_text(s: dict[str, Any]) -> str:
    capture = s["capture"]
    lines = [
        f"stage      {s['stage']}{'  (muted)' if s['muted'] else ''}",
        f"wake words {', '.join(s['wake_words'])}  sensitivity {s['sensitivity']}",
        f"capture    {'ok' if capture['available'] else 'UNAVAILABLE'}: {capture['device']}",
        f"volume     {s['volume']}%",
        f"uptime     {s['uptime_s']:.0f} s, {s['turns']} turns, healthy: {s['healthy']}",
    ]
    if s.get("mqtt"):
        m = s["mqtt"]
        state = "connected" if m["connected"] else f"DISCONNECTED ({m['last_error']})"
        lines.append(f"mqtt       {state} {m['broker']}, outbox {m['outbox']}")
    if s.get("last_turn"):
        last = s["last_turn"]
        lines.append(f"last turn  {last['outcome']}: {last['transcript']!r} -> {last['reply']!r}")
    return "\n".join(lines)
