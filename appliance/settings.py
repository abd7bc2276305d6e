"""Settings: one frozen dataclass per subsystem, loaded from TOML and the environment.

Every field carries its documentation, unit and allowed range in its metadata,
so validation, ``appliance config defaults`` and the README table all come from
one place.  A bad value raises :class:`ConfigError` naming the key, the value
and what is allowed; the CLI turns that into exit code 78.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ENV_PREFIX = "APPLIANCE_"
DEFAULT_CONFIG = Path("/etc/appliance/appliance.toml")


def setting(
    default: Any,
    doc: str,
    *,
    unit: str = "",
    min: float | None = None,  # noqa: A002 - reads best at the call sites
    max: float | None = None,  # noqa: A002
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with its documentation and validation rules."""
    meta = {"doc": doc, "unit": unit, "min": min, "max": max, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class DeviceSettings:
    id: str = setting("", "Device id used in MQTT topics and discovery; empty = from the hostname.")
    name: str = setting("Appliance", "Human-readable name shown in Home Assistant.")


@dataclass(frozen=True)
class PathSettings:
    state_dir: str = setting(
        "", "Persistent state (joined models, memory). Empty = $STATE_DIRECTORY or ~/.local/state/appliance."
    )
    runtime_dir: str = setting(
        "", "Control socket and other runtime files. Empty = $RUNTIME_DIRECTORY or $XDG_RUNTIME_DIR/appliance."
    )
    cache_dir: str = setting("", "Re-creatable caches. Empty = $CACHE_DIRECTORY or ~/.cache/appliance.")


@dataclass(frozen=True)
class AudioSettings:
    input_device: str = setting("default", "Capture device: PortAudio name substring or index; 'default'.")
    output_device: str = setting("default", "Playback device: PortAudio name substring or index; 'default'.")
    capture_rate: int = setting(
        0,
        "Rate to open the microphone at; 0 = 16000 if supported, else the device default.",
        unit="Hz",
        min=0,
        max=192_000,
    )
    preroll_s: float = setting(
        0.4,
        "Audio kept from before the speech detector noticed the request (never reaching back past the wake "
        "word), so the first syllable is never lost.",
        unit="s",
        min=0.0,
        max=2.0,
    )
    volume: int = setting(80, "Playback volume.", unit="%", min=0, max=100)
    earcon: bool = setting(True, "Play a short tone when the wake word is heard.")
    retry_s: float = setting(5.0, "How often to retry a missing capture device.", unit="s", min=0.5, max=600.0)
    queue_frames: int = setting(
        64,
        "Capture frames buffered between the audio callback and the detectors (oldest dropped when full).",
        min=4,
        max=4096,
    )


BUILTIN_WAKE_WORDS = ("hey_jarvis", "alexa", "hey_mycroft", "hey_rhasspy", "okay_nabu")
"""The wake words whose models come with the appliance (``pyopen-wakeword``)."""


@dataclass(frozen=True)
class WakeTuning:
    """One wake word's own rule (``[[wake.tuning]]``); a key left out keeps the ``[wake]`` value."""

    name: str = setting("", "Wake word it applies to: a built-in name or a model file's stem. Required.")
    threshold: float = setting(0.0, "Its score threshold; 0 = [wake] threshold.", min=0.0, max=0.99)
    trigger_level: int = setting(0, "Its consecutive frames to trigger; 0 = [wake] trigger_level.", min=0, max=20)
    refractory_s: float = setting(
        -1.0, "Its dead time after a detection; -1 = [wake] refractory_s.", unit="s", min=-1.0, max=30.0
    )

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name is required")


def wake_word_name(ref: str) -> str:
    """The name a configured wake word goes by: a built-in name, or a model path's stem."""
    return Path(ref).stem if ("/" in ref or ref.endswith((".tflite", ".onnx"))) else ref


@dataclass(frozen=True)
class WakeSettings:
    models: tuple[str, ...] = setting(
        ("hey_jarvis",),
        "Wake words to listen for at once: built-in names (hey_jarvis, alexa, hey_mycroft, hey_rhasspy, "
        "okay_nabu) or .tflite/.onnx paths.",
    )
    threshold: float = setting(0.5, "Score a frame must reach to count towards a detection.", min=0.01, max=0.99)
    trigger_level: int = setting(1, "Consecutive frames at or above the threshold needed to trigger.", min=1, max=20)
    refractory_s: float = setting(
        2.0, "Dead time after a detection before the same word can trigger again.", unit="s", min=0.0, max=30.0
    )
    vad_gate: bool = setting(
        True, "Run the wake-word network only while the cheap voice gate hears sound (saves most idle CPU)."
    )
    gate_hangover_s: float = setting(
        1.5,
        "Keep the wake-word network running this long after the gate last heard sound.",
        unit="s",
        min=0.2,
        max=10.0,
    )
    threads: int = setting(1, "Interpreter threads for the wake-word networks.", min=1, max=8)
    tuning: tuple[WakeTuning, ...] = setting(
        (),
        "Per-word threshold, trigger level and refractory period, as [[wake.tuning]] tables "
        "(name, threshold, trigger_level, refractory_s); words without one use the values above.",
    )

    def __post_init__(self) -> None:
        known = {*BUILTIN_WAKE_WORDS, *(wake_word_name(ref) for ref in self.models)}
        for i, rule in enumerate(self.tuning):
            if rule.name not in known:
                allowed = ", ".join(sorted(known))
                raise ValueError(f"tuning[{i}].name = {rule.name!r} is not a wake word here: choose one of {allowed}")


@dataclass(frozen=True)
class VadSettings:
    engine: str = setting("silero", "Speech detector for endpointing.", choices=("silero", "webrtc"))
    threshold: float = setting(0.5, "Speech probability above which a frame is speech.", min=0.05, max=0.95)
    speech_start_s: float = setting(
        0.15, "Voiced audio needed before the request counts as started.", unit="s", min=0.0, max=2.0
    )
    end_silence_s: float = setting(
        0.6, "Silence after speech that ends the request (the endpoint).", unit="s", min=0.1, max=5.0
    )
    no_speech_timeout_s: float = setting(
        5.0, "Give up listening when no speech starts within this time.", unit="s", min=0.5, max=60.0
    )
    max_utterance_s: float = setting(15.0, "Hard cap on one request's length.", unit="s", min=1.0, max=120.0)
    speculate_after_s: float = setting(
        0.15,
        "Start transcribing and thinking after this much trailing silence, before the endpoint closes; 0 disables.",
        unit="s",
        min=0.0,
        max=5.0,
    )


@dataclass(frozen=True)
class SttSettings:
    engine: str = setting("whisper", "Speech-to-text engine.", choices=("whisper", "vosk"))
    model: str = setting("whisper-base", "Whisper model: manifest name or a CTranslate2 model directory.")
    language: str = setting("en", "Spoken language (ISO 639-1).")
    device: str = setting("auto", "Where Whisper runs.", choices=("auto", "cpu", "cuda"))
    compute_type: str = setting(
        "int8", "CTranslate2 compute type.", choices=("int8", "int8_float16", "float16", "float32", "default")
    )
    beam_size: int = setting(1, "Beam width (1 = greedy, fastest).", min=1, max=10)
    threads: int = setting(0, "CPU threads for Whisper; 0 = all cores.", min=0, max=64)
    short_window: bool = setting(
        True, "Encode only as much audio as was spoken instead of Whisper's padded 30 s window."
    )
    vosk_model: str = setting("", "Vosk model: manifest name or directory; used when engine = 'vosk'.")
    vosk_phrases: tuple[str, ...] = setting((), "Optional phrase list that restricts Vosk's vocabulary.")


@dataclass(frozen=True)
class LlmSettings:
    model: str = setting("smollm2-135m", "GGUF model: manifest name or path.")
    system_prompt: str = setting(
        "You are a helpful voice assistant in a home. Answer in one or two short sentences, without lists or markdown.",
        "System prompt at the start of every conversation.",
    )
    max_tokens: int = setting(80, "Most tokens in one reply.", min=1, max=4096)
    temperature: float = setting(0.2, "Sampling temperature (0 = greedy).", min=0.0, max=2.0)
    top_p: float = setting(0.9, "Nucleus sampling mass.", min=0.05, max=1.0)
    stop: tuple[str, ...] = setting(("<|im_end|>",), "Extra stop strings.")
    n_ctx: int = setting(2048, "Context window.", unit="tokens", min=256, max=131_072)
    n_threads: int = setting(
        0, "CPU threads for generation and prompts; 0 = half the cores per token, all for prompts.", min=0, max=64
    )
    n_batch: int = setting(
        128,
        "Prompt tokens evaluated per llama.cpp batch; a turn's new prompt is rarely longer, and 128 "
        "instead of 512 saves ~10 MB of buffers at the same speed on a CPU (raise it for GPU offload).",
        unit="tokens",
        min=16,
        max=4096,
    )
    n_gpu_layers: int = setting(0, "Layers offloaded to the GPU (-1 = all; for a Jetson).", min=-1, max=1000)
    seed: int = setting(-1, "Sampling seed (-1 = random).", min=-1, max=2**31 - 1)
    history_turns: int = setting(4, "Earlier turns of the conversation kept in the prompt.", min=0, max=50)
    history_timeout_s: float = setting(
        300.0, "Forget the running conversation after this long without a turn.", unit="s", min=0.0, max=86_400.0
    )
    lora_path: str = setting("", "Optional LoRA adapter (GGUF) applied to the model at load, for personalisation.")
    lora_scale: float = setting(1.0, "Strength of the LoRA adapter.", min=0.0, max=4.0)


@dataclass(frozen=True)
class TtsSettings:
    voice: str = setting("en_US-joe-medium", "Piper voice: manifest name or .onnx path (with .onnx.json beside it).")
    length_scale: float = setting(1.0, "Speaking rate (larger = slower).", min=0.5, max=2.0)
    variation: float = setting(
        1.0, "Scale of the voice's sampling noise (0 = the same audio for the same text every time).", min=0.0, max=2.0
    )
    first_chunk_chars: int = setting(
        24, "Speak the first clause once this many characters end at a comma, so audio starts sooner.", min=0, max=400
    )
    threads: int = setting(1, "onnxruntime threads for the voice.", min=1, max=16)


@dataclass(frozen=True)
class VisionSettings:
    enabled: bool = setting(False, "Run the camera pipeline (off by default: no camera is assumed).")
    camera: bool = setting(
        True, "Camera switch at start-up; OFF closes the device (privacy). The camera command flips it."
    )
    source: str = setting(
        "/dev/video0",
        "Camera: a V4L2 device (/dev/video0 or 0), a GStreamer pipeline ending in appsink, an rtsp/http URL, "
        "a video file or a folder of images.",
    )
    source_kind: str = setting(
        "auto", "How to read source.", choices=("auto", "v4l2", "gstreamer", "url", "file", "folder")
    )
    width: int = setting(640, "Capture width asked of the camera.", unit="px", min=64, max=4096)
    height: int = setting(480, "Capture height asked of the camera.", unit="px", min=48, max=4096)
    fps: float = setting(
        5.0, "Frames analysed per second (the capture is capped to this).", unit="Hz", min=0.2, max=60.0
    )
    motion_threshold: float = setting(
        0.004, "Share of the downscaled frame that must change to count as motion.", min=0.0, max=1.0
    )
    motion_delta: int = setting(18, "Grey-level change that marks a pixel as changed.", min=1, max=255)
    recheck_s: float = setting(
        5.0,
        "Run the detectors at least this often without motion, so a still person is not forgotten.",
        unit="s",
        min=0.2,
        max=3600.0,
    )
    face_model: str = setting(
        "blazeface-full",
        "Face detector: blazeface-full (faces within ~5 m), blazeface-short (~2 m, 4× cheaper), "
        "another manifest name or a .tflite/.onnx path; empty = no face detection.",
    )
    face_threshold: float = setting(0.6, "Score a face must reach.", min=0.05, max=0.99)
    person_detector: str = setting(
        "hog",
        "Person detector: OpenCV's HOG people detector, a COCO ONNX model, or none.",
        choices=("none", "hog", "onnx"),
    )
    person_model: str = setting("yolox-nano", "COCO detector ONNX for person_detector = 'onnx': manifest name or path.")
    person_threshold: float = setting(0.5, "Score a person must reach.", min=0.05, max=0.99)
    person_interval_s: float = setting(
        1.0, "Run the (slower) person detector at most this often while faces are seen.", unit="s", min=0.0, max=60.0
    )
    onnx_device: str = setting(
        "auto", "onnxruntime execution provider for ONNX detectors.", choices=("auto", "cpu", "cuda", "tensorrt")
    )
    threads: int = setting(1, "Threads for each detector.", min=1, max=8)
    on_delay_s: float = setting(
        0.4, "Someone must be seen this long before presence turns on.", unit="s", min=0.0, max=60.0
    )
    off_delay_s: float = setting(
        120.0, "Presence turns off after nobody has been seen for this long.", unit="s", min=0.5, max=86_400.0
    )
    retry_s: float = setting(
        2.0, "First wait before reopening a lost camera (doubles each time).", unit="s", min=0.05, max=600.0
    )
    retry_max_s: float = setting(60.0, "Longest wait between camera retries.", unit="s", min=0.05, max=3600.0)
    snapshot_max_bytes: int = setting(
        250_000,
        "Largest snapshot JPEG (kept under the MQTT broker's packet limit).",
        unit="bytes",
        min=10_000,
        max=10_000_000,
    )
    wake_requires_presence: bool = setting(
        False, "Ignore wake words while the camera works and nobody has been seen (fewer false wakes from a TV)."
    )


@dataclass(frozen=True)
class MemorySettings:
    enabled: bool = setting(True, "Remember conversations, facts and events in <state_dir>/memory.db and use them.")
    embedding_model: str = setting(
        "all-minilm-l6-v2", "Sentence-embedding model: manifest name or a folder with model.safetensors."
    )
    embedding_backend: str = setting(
        "onnxruntime",
        "Runs the embedding model: onnxruntime (a graph built once from the weights) or numpy.",
        choices=("onnxruntime", "numpy"),
    )
    retention_days: float = setting(
        365.0,
        "Prune turns and events older than this (facts stay until forgotten); 0 = keep all.",
        unit="days",
        min=0.0,
        max=36_500.0,
    )
    context_tokens: int = setting(
        0,
        "Token budget of the LLM prompt; 0 = the LLM's n_ctx minus max_tokens.",
        unit="tokens",
        min=0,
        max=131_072,
    )
    memories: int = setting(6, "Most retrieved memories put in the LLM's context.", min=0, max=50)
    memory_tokens: int = setting(
        120,
        "Tokens the memories may take in one prompt (they are evaluated afresh every turn, so they delay "
        "the first word: about 0.4 s per 100 tokens on two x86 cores); 0 = no limit beyond the budget.",
        unit="tokens",
        min=0,
        max=8192,
    )
    min_similarity: float = setting(
        0.35, "Meaning-similarity a memory needs to be put in the context.", min=0.0, max=1.0
    )
    emotion: bool = setting(True, "Detect the speaker's emotion (words and voice) and tell the LLM.")
    record_events: tuple[str, ...] = setting(
        ("intent_executed", "presence", "camera", "mute", "error"), "Bus events (wire names) kept in memory."
    )
    queue_size: int = setting(
        1024, "Writes waiting for the memory writer before new ones are dropped.", min=16, max=100_000
    )


@dataclass(frozen=True)
class ControlSettings:
    enabled: bool = setting(True, "Serve the local control socket.")
    socket: str = setting("", "Socket path; empty = <runtime_dir>/control.sock.")
    allowed_commands: tuple[str, ...] = setting(
        ("*",),
        "Commands the socket runs (names or ns.*). Its 0600 file mode already limits it to the service user and "
        "root, so the default is every command.",
    )


@dataclass(frozen=True)
class HardwareSettings:
    profile: str = setting(
        "generic-linux",
        "Board profile: a name from hardware/ (jetson-orin-nano, raspberry-pi-5, generic-linux) or a .toml path.",
    )
    gpio: str = setting(
        "auto",
        "GPIO pin factory; auto = the profile's choice, none = no buttons or LEDs.",
        choices=("auto", "lgpio", "jetson", "mock", "none"),
    )
    long_press_s: float = setting(
        1.0, "Holding the action button this long stops the reply instead of listening.", unit="s", min=0.3, max=5.0
    )
    error_hold_s: float = setting(
        4.0, "How long the LEDs show an error before returning to the pipeline state.", unit="s", min=0.5, max=60.0
    )
    led_brightness: float = setting(1.0, "Scale for every LED colour.", min=0.05, max=1.0)


@dataclass(frozen=True)
class HomeDevice:
    """One switchable thing in the house, reachable over MQTT (``[[mqtt.devices]]``)."""

    name: str = setting("", "What people call it: 'kitchen light'. Required.")
    command_topic: str = setting("", "Topic its on/off payloads go to. Required; no wildcards.")
    aliases: tuple[str, ...] = setting((), "Other names: ['ceiling light', 'big light'].")
    area: str = setting("", "Room it is in: 'kitchen' ('turn on the light in the kitchen').")
    kind: str = setting("light", "What it is.", choices=("light", "switch", "fan", "outlet", "heater", "other"))
    payload_on: str = setting("ON", "Payload that switches it on.")
    payload_off: str = setting("OFF", "Payload that switches it off.")
    state_topic: str = setting("", "Optional topic it reports its state on (same payloads).")
    retain: bool = setting(False, "Publish its commands retained.")

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name is required")
        for key in ("command_topic", "state_topic"):
            topic = getattr(self, key)
            if (key == "command_topic" and not topic) or any(ch in topic for ch in "#+\0"):
                raise ValueError(f"{key} = {topic!r} is not allowed: a topic without wildcards is required")


@dataclass(frozen=True)
class MqttSettings:
    host: str = setting("", "Broker host name or address; empty = MQTT off (the appliance runs without it).")
    port: int = setting(0, "Broker port; 0 = 1883, or 8883 with TLS.", min=0, max=65535)
    client_id: str = setting("", "MQTT client id; empty = appliance-<device id>.")
    username: str = setting("", "User name; empty = anonymous.")
    password_file: str = setting("", "File holding the password (first line); never put the password itself here.")
    protocol: str = setting("5", "MQTT protocol version.", choices=("5", "3.1.1"))
    keepalive_s: int = setting(
        30, "Keepalive; the broker sends the last will after 1.5 x this.", unit="s", min=5, max=3600
    )
    tls: bool = setting(False, "Connect with TLS.")
    ca_file: str = setting("", "CA certificate(s) that signed the broker's certificate; empty = the system's.")
    cert_file: str = setting("", "Client certificate for mutual TLS.")
    key_file: str = setting("", "Client key for mutual TLS.")
    tls_insecure: bool = setting(False, "Skip the broker host name check (testing only).")
    base_topic: str = setting("appliance", "Topics live under <base_topic>/<device id>/.")
    discovery: bool = setting(True, "Announce the device to Home Assistant (MQTT device discovery).")
    discovery_prefix: str = setting("homeassistant", "Home Assistant's discovery prefix.")
    birth_delay_max_s: float = setting(
        5.0,
        "Re-announce after Home Assistant's birth message within a random delay up to this.",
        unit="s",
        min=0.0,
        max=60.0,
    )
    reconnect_min_s: float = setting(1.0, "First reconnect delay (doubles, with jitter).", unit="s", min=0.1, max=60.0)
    reconnect_max_s: float = setting(60.0, "Longest reconnect delay.", unit="s", min=1.0, max=3600.0)
    session_expiry_s: int = setting(
        300,
        "How long the broker keeps our subscriptions and queued commands while we are away; 0 = clean session.",
        unit="s",
        min=0,
        max=86_400,
    )
    command_max_age_s: float = setting(
        30.0,
        "Commands older than this (by their ts field or waiting in the queue) are not executed.",
        unit="s",
        min=1.0,
        max=3600.0,
    )
    speech_queue: int = setting(4, "say/ask commands waiting their turn; more are refused.", min=1, max=100)
    command_rate: float = setting(
        100.0, "Commands accepted per second (sustained); more are refused.", min=1.0, max=10_000.0
    )
    command_burst: int = setting(200, "Commands accepted in a burst above the sustained rate.", min=1, max=100_000)
    outbox_max: int = setting(
        1000,
        "Events kept in <state_dir>/outbox.db while the broker is away; the oldest go first.",
        min=10,
        max=1_000_000,
    )
    max_packet_bytes: int = setting(
        2_000_000, "Largest packet sent (Mosquitto's default max_packet_size).", unit="bytes", min=1024, max=268_435_455
    )
    health_interval_s: float = setting(60.0, "How often the health state is published.", unit="s", min=5.0, max=3600.0)
    disabled_commands: tuple[str, ...] = setting((), "Commands not reachable over MQTT: ['restart'].")
    allowed_commands: tuple[str, ...] = setting(
        (),
        "Commands opted in over MQTT on top of the default remote set (say, ask, listen, stop, mute, volume, "
        "wake_word, sensitivity, status, timer.*, alarm.*, reminder.*, timers.list, list.*): e.g. "
        "['memory.list', 'camera', 'snapshot', 'reload', 'restart', 'debug.*', 'home.devices'].",
    )
    allow_listen: bool = setting(True, "Whether an MQTT client may start a capture (cmd/listen).")
    reply_prefixes: tuple[str, ...] = setting(
        (),
        "Topic prefixes replies may go to besides <base_topic>/<device id>/.../reply: e.g. ['nodered/replies'].",
    )
    max_inbound_packet_bytes: int = setting(
        131_072,
        "Largest packet the broker may send us (MQTT 5 Maximum Packet Size in CONNECT); bigger ones it drops.",
        unit="bytes",
        min=1024,
        max=268_435_455,
    )
    devices: tuple[HomeDevice, ...] = setting(
        (), "Home devices for voice control, as [[mqtt.devices]] tables (name, command_topic, area, aliases, …)."
    )

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class LogSettings:
    level: str = setting("info", "Log level.", choices=("debug", "info", "warning", "error"))


@dataclass(frozen=True)
class SkillsSettings:
    enabled: bool = setting(True, "Answer timers, alarms, reminders, time, arithmetic, units and lists locally.")
    timezone: str = setting("", "IANA time zone for the clock and alarms (e.g. Europe/London); empty = the device's.")
    clock_24h: bool = setting(False, "Speak times as 19:05 instead of 7:05 pm.")
    ring_s: float = setting(
        60.0, "How long a finished timer or alarm rings unless stopped.", unit="s", min=5.0, max=600.0
    )
    snooze_min: int = setting(9, "Snooze length when none is said.", unit="min", min=1, max=60)
    volume_step: int = setting(10, "How much 'volume up' / 'volume down' changes the volume.", unit="%", min=1, max=50)

    def __post_init__(self) -> None:
        if self.timezone:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"timezone = {self.timezone!r} is not a known IANA time zone") from None


@dataclass(frozen=True)
class MetricsSettings:
    listen: str = setting(
        "127.0.0.1:9464",
        "Prometheus metrics over HTTP on host:port (loopback by default); empty = no metrics endpoint.",
    )

    def __post_init__(self) -> None:
        if self.listen:
            listen_address(self.listen)


def listen_address(spec: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6) as (host, port); ValueError when it is not one."""
    host, sep, port = spec.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen = {spec!r} is not allowed: expected host:port, e.g. 127.0.0.1:9464")
    return host, int(port)


@dataclass(frozen=True)
class ModelSwapSettings:
    probe_max_s: float = setting(
        20.0,
        "A model swapped in live must answer its warm-up probe within this time, or the swap is refused.",
        unit="s",
        min=0.1,
        max=600.0,
    )
    memory_margin_mb: int = setting(
        256, "RAM that must stay free after loading a model beside the running one.", unit="MB", min=0, max=65536
    )


@dataclass(frozen=True)
class Settings:
    device: DeviceSettings = field(default_factory=DeviceSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    wake: WakeSettings = field(default_factory=WakeSettings)
    vad: VadSettings = field(default_factory=VadSettings)
    stt: SttSettings = field(default_factory=SttSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    vision: VisionSettings = field(default_factory=VisionSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    control: ControlSettings = field(default_factory=ControlSettings)
    hardware: HardwareSettings = field(default_factory=HardwareSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    skills: SkillsSettings = field(default_factory=SkillsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    models: ModelSwapSettings = field(default_factory=ModelSwapSettings)

    # -- derived values -------------------------------------------------
    @property
    def device_id(self) -> str:
        """The configured id, or a topic-safe one derived from the hostname."""
        raw = self.device.id or socket.gethostname() or "appliance"
        return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in raw.lower())

    @property
    def state_dir(self) -> Path:
        return _resolve_dir(self.paths.state_dir, "STATE_DIRECTORY", Path.home() / ".local" / "state" / "appliance")

    @property
    def cache_dir(self) -> Path:
        return _resolve_dir(self.paths.cache_dir, "CACHE_DIRECTORY", Path.home() / ".cache" / "appliance")

    @property
    def runtime_dir(self) -> Path:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        fallback = Path(xdg) / "appliance" if xdg else Path(f"/tmp/appliance-{os.getuid()}")  # noqa: S108 - 0700, per user
        return _resolve_dir(self.paths.runtime_dir, "RUNTIME_DIRECTORY", fallback)

    @property
    def memory_path(self) -> Path:
        return self.state_dir / "memory.db"

    @property
    def socket_path(self) -> Path:
        return Path(self.control.socket) if self.control.socket else self.runtime_dir / "control.sock"


def _resolve_dir(configured: str, env_name: str, fallback: Path) -> Path:
    if configured:
        return Path(configured).expanduser()
    from_env = os.environ.get(env_name, "").split(":")[0]
    return Path(from_env) if from_env else fallback


# ---------------------------------------------------------------------------
# Loading and validation


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read TOML (if any) and ``APPLIANCE_<SECTION>_<KEY>`` overrides, then validate."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_toml(path)
    overrides = _env_overrides(env)
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return settings_from_dict(raw)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a config file, turning I/O and syntax problems into ConfigError."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as err:
        raise ConfigError("config-missing", f"config file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("config-syntax", f"{path}: {err}") from err
    except OSError as err:
        raise ConfigError("config-unreadable", f"{path}: {err.strerror}") from err


def settings_from_dict(raw: Mapping[str, Any]) -> Settings:
    """Build validated Settings from a nested mapping (as parsed from TOML)."""
    sections = {f.name: f for f in fields(Settings)}
    built: dict[str, Any] = {}
    for section_name, values in raw.items():
        if section_name not in sections:
            allowed = ", ".join(sorted(sections))
            raise ConfigError("config-unknown-key", f"unknown section [{section_name}]; allowed sections: {allowed}")
        if not isinstance(values, Mapping):
            raise ConfigError("config-type", f"[{section_name}] must be a table, got {values!r}")
        section_cls = sections[section_name].default_factory  # type: ignore[misc]
        built[section_name] = _build_section(section_name, section_cls, values)
    return Settings(**built)


def _build_section(section: str, cls: Any, values: Mapping[str, Any]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            allowed = ", ".join(sorted(known))
            raise ConfigError("config-unknown-key", f"unknown key {section}.{key}; allowed keys: {allowed}")
        kwargs[key] = _coerce(f"{section}.{key}", value, hints[key], known[key].metadata)
    try:
        return cls(**kwargs)
    except ValueError as err:  # a dataclass's own check (required keys, cross-field rules)
        raise ConfigError("config-value", f"{section}: {err}") from err


def _coerce(key: str, value: Any, hint: Any, meta: Mapping[str, Any]) -> Any:
    if get_origin(hint) is tuple:
        item_type = get_args(hint)[0]
        if isinstance(item_type, type) and dataclasses.is_dataclass(item_type):
            return _coerce_tables(key, value, item_type)
        return _coerce_list(key, value, item_type)
    if hint is bool:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected true or false")
        return value
    if hint in (int, float):
        number = _to_number(key, value, hint)
        low, high = meta.get("min"), meta.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            unit = f" {meta['unit']}" if meta.get("unit") else ""
            raise ConfigError("config-range", f"{key} = {value!r} is out of range: allowed {low}..{high}{unit}")
        return number
    if not isinstance(value, str):
        raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected a string")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError("config-choice", f"{key} = {value!r} is not allowed: choose one of {', '.join(choices)}")
    return value


def _to_number(key: str, value: Any, hint: type) -> float | int:
    if isinstance(value, bool):
        raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected a number")
    try:
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        return float(value)
    except (TypeError, ValueError) as err:
        kind = "an integer" if hint is int else "a number"
        raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected {kind}") from err


def _coerce_list(key: str, value: Any, item_type: type) -> tuple[Any, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, item_type) for item in value):
        raise ConfigError("config-type", f"{key} = {value!r} is not allowed: expected a list of {item_type.__name__}")
    return tuple(value)


def _coerce_tables(key: str, value: Any, cls: type) -> tuple[Any, ...]:
    """An array of tables (``[[mqtt.devices]]``): each one validated like a section."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, Mapping) for item in value):
        raise ConfigError(
            "config-type", f"{key} = {value!r} is not allowed: expected [[{key}]] tables in the config file"
        )
    return tuple(_build_section(f"{key}[{i}]", cls, item) for i, item in enumerate(value))


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``APPLIANCE_WAKE_THRESHOLD=0.6`` -> ``{"wake": {"threshold": "0.6"}}``."""
    sections = {f.name for f in fields(Settings)}
    overrides: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in ("APPLIANCE_CONFIG",):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in sorted(sections, key=len, reverse=True) if rest.startswith(s + "_")), None)
        if section is None:
            continue  # other APPLIANCE_* variables (e.g. test hooks) are not settings
        overrides.setdefault(section, {})[rest[len(section) + 1 :]] = value
    return overrides


# ---------------------------------------------------------------------------
# Documentation


def describe_defaults() -> str:
    """A commented TOML file with every key at its default (``appliance config defaults``)."""
    lines = ["# Appliance configuration. Every key is optional; shown at its default.", ""]
    for section in fields(Settings):
        lines.append(f"[{section.name}]")
        instance = section.default_factory()  # type: ignore[misc,operator]
        for item in fields(instance):
            meta = item.metadata
            allowed = _allowed_text(meta)
            lines.append(f"# {meta['doc']}{allowed}")
            lines.append(f"# {item.name} = {_toml_value(getattr(instance, item.name))}")
        lines.append("")
    return "\n".join(lines)


def _allowed_text(meta: Mapping[str, Any]) -> str:
    parts = []
    if meta.get("choices"):
        parts.append("one of " + ", ".join(meta["choices"]))
    if meta.get("min") is not None:
        parts.append(f"{meta['min']}..{meta['max']}")
    if meta.get("unit"):
        parts.append(meta["unit"])
    return f" ({'; '.join(parts)})" if parts else ""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def as_dict(settings: Settings) -> dict[str, Any]:
    """Plain nested dict (``appliance config show``)."""
    return dataclasses.asdict(settings)
