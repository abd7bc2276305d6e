"""``appliance run``: choose audio endpoints, load engines, run the appliance, restart on request."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.buffer import resample
from appliance.audio.sink import (
    AudioSink,
    NullSink,
    PcmStreamSink,
    WavSink,
)
from appliance.audio.source import (
    ArraySource,
    AudioSource,
    MicSource,
    PcmStreamSource,
    wav_source,
)
from appliance.audio.speaker import SpeakerSink
from appliance.audio.wav import write_wav
from appliance.board.profiles import apply_profile, load_profile
from appliance.engines.tts import PiperTts
from appliance.models.registry import ModelRegistry
from appliance.models.swap.state import ModelState
from appliance.runtime.app import EXIT_RESTART, Appliance, load_engines
from appliance.runtime.systemd import Notifier
from appliance.settings import Settings
from appliance.voice.turn_record import TurnRecord

_LOGGER = logging.getLogger(__name__)

DEMO_WAKE = "Hey Jarvis."
DEMO_REQUEST = "What is the capital of France?"


def run_daemon(settings: Settings, config_path: Path | None, args: argparse.Namespace) -> int:
    notifier = Notifier()
    notifier.status("loading models")
    profile = load_profile(settings.hardware.profile, gpio_override=settings.hardware.gpio)
    settings = apply_profile(settings, profile)
    settings = ModelState.for_settings(settings).effective(settings)  # models chosen with `models use` win
    if settings.metrics.listen:  # a taken port is a configuration error now, not after a minute of loading
        from appliance.runtime.metrics import check_listen

        check_listen(settings.metrics.listen)
    registry = ModelRegistry(settings.state_dir, show_progress=sys.stderr.isatty())
    with notifier.extending():  # a 3B model from an SD card can take minutes
        engines = load_engines(settings, registry)
    sink = choose_sink(settings, args.output)
    source_factory = choose_source(settings, args.input)
    app = Appliance(
        settings,
        engines,
        registry=registry,
        source_factory=source_factory,
        sink=sink,
        config_path=config_path,
        notifier=notifier,
        control=not args.no_control,
        profile=profile,
        gpio=True,
        metrics=True,
    )
    if args.demo:
        demo = demo_recording(settings, engines.tts)
        _LOGGER.info("Playing the demo conversation from %s, then listening to the microphone", demo)
        app.frontend.play_first(lambda: wav_source(demo, realtime=True, tail_s=3.0))
        app.pipeline.on_turn_finished.append(_demo_log(app))
    code = asyncio.run(app.run())
    if code == EXIT_RESTART and not os.environ.get("INVOCATION_ID"):
        _LOGGER.info("Restarting")
        os.execv(sys.executable, [sys.executable, "-m", "appliance", *sys.argv[1:]])  # noqa: S606 - re-exec self
    return code


def choose_source(settings: Settings, spec: str | None) -> Callable[[], AudioSource]:
    """The microphone, a WAV file (paced like a microphone) or raw PCM on stdin."""
    if spec == "-":
        return lambda: PcmStreamSource()
    if spec:
        path = Path(spec)
        return lambda: wav_source(path, realtime=True, tail_s=3.0)
    a = settings.audio
    return lambda: MicSource(a.input_device, capture_rate=a.capture_rate, queue_frames=a.queue_frames)


def choose_sink(settings: Settings, spec: str | None) -> AudioSink:
    """The speaker, a WAV file, raw PCM on stdout; without any output device, nowhere."""
    volume = settings.audio.volume
    if spec == "-":
        return PcmStreamSink(realtime=True, volume=volume)
    if spec:
        return WavSink(spec, realtime=True, volume=volume)
    if has_output_device(settings.audio.output_device):
        return SpeakerSink(settings.audio.output_device, volume=volume)
    _LOGGER.warning("No playback device: replies are generated but not heard (headless)")
    return NullSink(volume=volume)


def has_output_device(spec: str) -> bool:
    try:
        import sounddevice as sd

        from appliance.audio.source import find_device

        sd.query_devices(find_device(spec, kind="output"), "output")
        return True
    except Exception:  # noqa: BLE001 - any PortAudio failure means "no speaker here"
        return False


def _demo_log(app: Appliance) -> Callable[[TurnRecord], None]:
    """The demo's own exchange in full at INFO (the household's speech is logged only as its length)."""

    def log_once(record: TurnRecord) -> None:
        if record.source == "voice":
            _LOGGER.info("Demo: heard %r, replied %r (%s)", record.transcript, record.reply, record.outcome)
            app.pipeline.on_turn_finished.remove(log_once)

    return log_once


def demo_recording(settings: Settings, tts: PiperTts) -> Path:
    """The demo conversation ("Hey Jarvis. … What is the capital of France?"), made once with the voice."""
    path = settings.state_dir / "demo" / "demo.wav"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = make_conversation_audio(tts, DEMO_WAKE, DEMO_REQUEST)
    write_wav(path, audio, SAMPLE_RATE)
    return path


def make_conversation_audio(tts: PiperTts, wake: str, request: str, *, gap_s: float = 0.4) -> np.ndarray:
    """Silence, the wake phrase, a short pause, the request, silence: as a microphone would hear it."""

    def speech(text: str) -> np.ndarray:
        return resample(tts.synthesize_all(text), tts.sample_rate, SAMPLE_RATE)

    def pause(seconds: float) -> np.ndarray:
        return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)

    return np.concatenate([pause(1.0), speech(wake), pause(gap_s), speech(request), pause(1.0)])


def array_source(samples: np.ndarray, *, realtime: bool, tail_s: float | None) -> ArraySource:
    return ArraySource(samples, realtime=realtime, tail_s=tail_s)
