"""One-shot CLI commands: through the daemon's socket when it runs, with local engines otherwise."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from typing import Any

import numpy as np

from appliance.audio.sink import AudioSink, WavSink
from appliance.audio.speaker import SpeakerSink
from appliance.audio.wav import read_wav, write_wav
from appliance.control.local_socket import ControlClient
from appliance.core.errors import ControlError
from appliance.engines.stt.factory import load_stt
from appliance.engines.tts import PiperTts
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings


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
    result = asyncio.run(_ask_locally(settings, args.text, args.out))
    _print(result, args.json, result["reply"])
    return 0


async def _ask_locally(settings: Settings, text: str, out: Any) -> dict[str, Any]:
    """The daemon's own turn path in this process: intents, memory, skills and context, then the LLM.

    The microphone, the control socket, the broker, the camera and the pins stay
    the daemon's: this appliance hears silence, serves nothing and publishes nothing.
    """
    from appliance.engines.loader import load_engines
    from appliance.runtime.daemon import choose_sink
    from appliance.runtime.inprocess import running

    settings = replace(
        settings,
        mqtt=replace(settings.mqtt, host=""),
        vision=replace(settings.vision, enabled=False),
        audio=replace(settings.audio, earcon=False),
    )
    registry = ModelRegistry(settings.state_dir)
    engines = await asyncio.to_thread(load_engines, settings, registry, warm_up=False)
    sink = WavSink(out, realtime=False, volume=100) if out is not None else choose_sink(settings, None)
    async with running(settings, engines, registry, sink) as app:
        record = await app.pipeline.ask(text)
    timings = record.timings()
    return {
        "question": text,
        "reply": record.reply,
        "outcome": record.outcome.value,
        "intent": record.intent,
        "reply_wav": str(out) if out else None,
        "llm_first_token_s": timings["llm_first_token_s"],
        "tts_first_audio_s": timings["tts_first_audio_s"],
    }


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
    server = s.get("llm_server") or {}
    if server.get("state", "off") != "off":
        state = server["state"] if not server.get("last_error") else f"{server['state']} ({server['last_error']})"
        retry = f", retry in {server['retry_in_s']:.0f} s" if server.get("retry_in_s") else ""
        lines.append(f"llm server {state} {server['url']}{retry}")
    if s.get("last_turn"):
        last = s["last_turn"]
        by = f" [{last['llm_backend']}]" if last.get("llm_backend") else ""
        lines.append(f"last turn  {last['outcome']}{by}: {last['transcript']!r} -> {last['reply']!r}")
    return "\n".join(lines)
