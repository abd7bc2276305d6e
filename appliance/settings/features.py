"""Settings of the features: vision, memory, control, hardware, MQTT and home devices, logs, skills,
metrics, live model swaps."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.settings.home import HomeDevice
from appliance.settings.spec import setting


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
    memories: int = setting(
        3,
        "Most retrieved memories put in the LLM's context. 3 (and 60 tokens) instead of 6 (120): the session "
        "bench's p50 1.25 -> 1.18 s and first-token p95 0.81 -> 0.53 s, with the same answers.",
        min=0,
        max=50,
    )
    day_note: bool = setting(
        True,
        "Tell the LLM the day and part of day in each turn's notes ('It is Wednesday evening, 2 December "
        "2026.'); the skills tell the time and date exactly either way.",
    )
    memory_tokens: int = setting(
        60,
        "Tokens the memories may take in one prompt (they are evaluated afresh every turn, so they delay "
        "the first word: about 0.4 s per 100 tokens on two x86 cores); 0 = no limit beyond the budget.",
        unit="tokens",
        min=0,
        max=8192,
    )
    min_similarity: float = setting(
        0.35, "Meaning-similarity a memory needs to be put in the context.", min=0.0, max=1.0
    )
    answer_facts: bool = setting(
        True,
        "Answer a question that one remembered fact answers word for word ('When is Anna's birthday?') "
        "with that fact, said back exactly, instead of asking the LLM.",
    )
    relative_score: float = setting(
        0.7,
        "A memory scoring under this fraction of the best one's is left out of the context (0 = keep all "
        "that pass min_similarity): 'I left my keys in the garage' (0.55) behind 'The spare key for the shed "
        "is under the blue flowerpot' (0.88) only costs the turn its tokens.",
        min=0.0,
        max=1.0,
    )
    duplicate_similarity: float = setting(
        0.9,
        "A memory whose meaning is this close to a better one's (cosine of their vectors) is left out: "
        "'Anna's birthday is on Monday' behind 'Anna's birthday is on Sunday' (0.93); 1 = keep them.",
        min=0.5,
        max=1.0,
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
    idle_timeout_s: float = setting(
        60.0,
        "A client that sends no request for this long is disconnected (a command still running is not idle).",
        unit="s",
        min=0.1,
        max=3600.0,
    )
    max_clients: int = setting(
        32, "Clients connected at once; one more is answered too-many-clients and closed.", min=1, max=1000
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
        (),
        "Home devices for voice control, as [[mqtt.devices]] tables (name, command_topic, area, floor, aliases, "
        "state_topic, brightness_command_topic, brightness_payload, …; every key in docs/home.md).",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class RoomsSettings:
    enabled: bool = setting(True, "Elect one answering appliance when several hear a wake word (needs mqtt.host).")
    group: str = setting("", "Appliances that elect among themselves; empty = every one under the same base topic.")
    window_ms: int = setting(
        150,
        "Longest wait for peers' claims after the wake word (sooner once every known peer claimed).",
        unit="ms",
        min=0,
        max=300,
    )
    area: str = setting("", "The room this appliance stands in, sent with its claims (a Home Assistant area).")
    trust: tuple[str, ...] = setting((), "Device ids whose claims count; empty = any peer heard for a while.")


@dataclass(frozen=True)
class UnderstandingSettings:
    sentences: bool = setting(
        True, "Match requests against Home Assistant's maintained sentences before the appliance's own rules."
    )
    language: str = setting(
        "en", "Language of the sentences (home-assistant-intents' code: en, de, fr, …); English is complete."
    )
    semantic: bool = setting(
        True, "Place requests no sentence or rule matched by the memory's embedder (off without the memory)."
    )

    def __post_init__(self) -> None:
        from home_assistant_intents import get_languages  # a list of codes: cheap, no sentences loaded

        if self.language not in get_languages():
            available = ", ".join(get_languages())
            raise ValueError(f"language = {self.language!r} is not available; available: {available}")


@dataclass(frozen=True)
class WyomingSettings:
    enabled: bool = setting(False, "Serve STT, TTS, the wake word and the conversation over Wyoming (docs/wyoming.md).")
    host: str = setting("127.0.0.1", "Bind address; 0.0.0.0 = all. Wyoming has no authentication: trusted LAN only.")
    port: int = setting(10700, "Wyoming TCP port; 0 = any free port.", min=0, max=65535)
    announce: bool = setting(True, "Announce _wyoming._tcp over zeroconf when bound to a LAN address.")
    max_clients: int = setting(8, "Connections at once; one more is closed as it is accepted.", min=1, max=256)
    max_audio_s: float = setting(30.0, "Audio one transcription may send.", unit="s", min=1.0, max=300.0)
    max_text_chars: int = setting(4000, "Characters one synthesize or handle request may carry.", min=100, max=100_000)
    idle_timeout_s: float = setting(60.0, "Silent (or half-sent) connections close.", unit="s", min=1.0, max=3600.0)

    def __post_init__(self) -> None:
        if not self.host or any(ch.isspace() for ch in self.host):
            raise ValueError(f"host = {self.host!r} is not allowed: expected an address, e.g. 127.0.0.1 or 0.0.0.0")


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
    read_timeout_s: float = setting(
        5.0,
        "A scrape must send its request within this time, and take its reply within it again, or it is closed.",
        unit="s",
        min=0.1,
        max=60.0,
    )
    max_connections: int = setting(
        8, "Connections to the metrics endpoint at once; one more is closed as it is accepted.", min=1, max=256
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
        "A model swapped in live must render its chat template (in a child process, killed at this deadline) "
        "and answer its warm-up probe (stopped at it) each within this time, or the swap is refused.",
        unit="s",
        min=0.1,
        max=600.0,
    )
    load_max_s: float = setting(
        300.0,
        "Checking a model (its header, its sha256) and loading it must each end within this time, or the swap "
        "is refused and the next may start (a 3B model from an SD card loads in about a minute).",
        unit="s",
        min=1.0,
        max=3600.0,
    )
    memory_margin_mb: int = setting(
        256,
        "RAM that must stay free after loading a model beside the running one; a language model counts its "
        "file, its KV cache for llm.n_ctx, its logits buffers and what its chat template grew a process by.",
        unit="MB",
        min=0,
        max=65536,
    )
