"""Settings of the voice loop: device, paths, audio, wake word, VAD, STT, LLM, TTS."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from appliance.settings.spec import setting


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
    aec: str = setting(
        "auto",
        "Acoustic echo cancellation of the appliance's own voice (WebRTC AEC3), so barge-in works on a speaker: "
        "auto = on when playing to a speaker and capturing from a microphone that is not PipeWire's "
        "echo-cancel source. Read at start-up (restart to change).",
        choices=("auto", "on", "off"),
    )
    noise_suppression: bool = setting(False, "WebRTC noise suppression on the microphone signal (at start-up).")
    agc: bool = setting(False, "WebRTC automatic gain control on the microphone signal (at start-up).")


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
        0.6,
        "Silence after speech that ends the request (the endpoint) when no turn model judges it: turn_model "
        "off, its file missing, or a failed judgement.",
        unit="s",
        min=0.1,
        max=5.0,
    )
    no_speech_timeout_s: float = setting(
        5.0, "Give up listening when no speech starts within this time.", unit="s", min=0.5, max=60.0
    )
    max_utterance_s: float = setting(15.0, "Hard cap on one request's length.", unit="s", min=1.0, max=120.0)
    speculate_after_s: float = setting(
        0.08,
        "Start transcribing and thinking after this much trailing silence, before the endpoint closes; 0 disables. "
        "0.08 s (one frame) instead of 0.15: session p50 0.82-0.93 s against 0.94-1.02 s, with one more turn-model "
        "call in ten turns and the same endpoint figures.",
        unit="s",
        min=0.0,
        max=5.0,
    )
    turn_model: str = setting(
        "smart-turn",
        "Semantic end of turn: at each pause (at speculate_after_s, or end_silence_min_s if sooner) the "
        "smart-turn model judges whether the request sounds finished; off = every request ends after "
        "end_silence_s of silence. A missing model falls back to that too. Loaded at start-up.",
        choices=("smart-turn", "off"),
    )
    smart_turn_threshold: float = setting(
        0.8,
        "Turn-model probability at or above which a pause counts as the end of the request (higher: fewer "
        "speakers cut off mid-sentence, more requests waiting end_silence_max_s; see appliance bench --only endpoint).",
        min=0.05,
        max=0.99,
    )
    smart_turn_unsure: float = setting(
        0.5,
        "A turn probability from this up to smart_turn_threshold (the model cannot tell) ends the pause at "
        "end_silence_s if the speculative transcript reads as a whole request, instead of waiting "
        "end_silence_max_s ('Where's the spare key for the shed?' scored 0.58); 1 = always wait.",
        min=0.05,
        max=1.0,
    )
    smart_turn_recheck_s: float = setting(
        0.6,
        "A pause the turn model judged unfinished (under smart_turn_unsure) is asked about again, when the "
        "speculative transcript can check the answer, at this much "
        "silence: with more of the pause in its window it tells better ('We laugh less heartily so we have "
        "still that resource.' 0.32 at 0.16 s, 0.84 at 0.4 s); whole requests waiting the longest pause 6 -> 1 "
        "of 33, no more cut-offs in 34 paused ones (at 0.4 s: 3); 0 = ask once.",
        min=0.0,
        max=1.5,
        unit="s",
    )
    end_silence_min_s: float = setting(
        0.2,
        "With the turn model: silence that ends a request it judged finished.",
        unit="s",
        min=0.1,
        max=5.0,
    )
    end_silence_max_s: float = setting(
        1.5,
        "With the turn model: silence that ends a request it judged unfinished (a pause mid-sentence).",
        unit="s",
        min=0.1,
        max=10.0,
    )

    def __post_init__(self) -> None:
        if not self.end_silence_min_s <= self.end_silence_s <= self.end_silence_max_s:
            raise ValueError(
                f"end_silence_min_s <= end_silence_s <= end_silence_max_s is required, got "
                f"{self.end_silence_min_s} <= {self.end_silence_s} <= {self.end_silence_max_s}"
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
    max_tokens: int = setting(
        80,
        "Most tokens in one reply, asked of the local model and of the LAN server alike; a server that "
        "sends more is cut off.",
        unit="tokens",
        min=1,
        max=4096,
    )
    reply_max_s: float = setting(
        30.0,
        "Longest a reply may take, from the start of its writing to the end of its speech, whichever model "
        "writes it: no sentence is begun once the speech already made would play past it, and none at all past "
        "it by the clock. The model is then stopped, the reply ends after its last whole sentence and the turn "
        "ends as answered.",
        unit="s",
        min=1.0,
        max=600.0,
    )
    temperature: float = setting(
        0.0,
        "Sampling temperature (0 = greedy, the answers the quality bench scores). With 0.2, SmolLM2-135M "
        "answered 'What is the capital of France?' in French in two of three turns of a session.",
        min=0.0,
        max=2.0,
    )
    repeat_penalty: float = setting(
        1.0,
        "Penalty on tokens already in the prompt and reply (1 = none). 1.1 stopped SmolLM2's greedy loops but "
        "cost remembered facts (87.5 % against 93.8 %: it penalises repeating the note's date).",
        min=1.0,
        max=2.0,
    )
    reply_never_starts: tuple[str, ...] = setting(
        ("Le", "La", "Les", "Il", "Je", "Du", "El", "Los", "Las"),
        "Words a reply may not begin with (its first token only; words the tokenizer splits are ignored). "
        "The voice speaks English, and SmolLM2-135M, given a date in its notes, began 13 of 56 answers in "
        "French ('Le Grand Paris is the capital of France.') and then kept to French for the rest of the "
        "session; with these openers barred, 0 of 56. Empty it for a voice in another language.",
    )
    top_p: float = setting(0.9, "Nucleus sampling mass.", min=0.05, max=1.0)
    stop: tuple[str, ...] = setting(("<|im_end|>",), "Extra stop strings.")
    n_ctx: int = setting(
        1024,
        "Context window. A session's prompts stay under ~500 tokens (four exchanges, the notes); the KV "
        "cache is allocated for the whole window, and 2048 cost SmolLM2 24 MB more resident.",
        unit="tokens",
        min=256,
        max=131_072,
    )
    n_threads: int = setting(
        0,
        "CPU threads for generation and prompts; 0 = every core for a reply's prompt and first phrase, half "
        "the cores per token once the voice speaks beside it (prefills, while the user talks: half).",
        min=0,
        max=64,
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
    server_url: str = setting(
        "",
        "An OpenAI-compatible LLM server on the LAN (llama-server, Ollama, vLLM), as its base URL ending in "
        "/v1 (http://host:8080/v1); conversation replies stream from it, with the local model as the fallback. "
        "Empty = local only.",
    )
    server_model: str = setting("", "Model name sent to the server; empty = 'default' (the server's own choice).")
    server_api_key_file: str = setting(
        "", "File holding the server's bearer key (one line; never logged or shown); empty = no key."
    )
    server_timeout_s: float = setting(
        1.5,
        "Deadline for the server's first token; a server that misses it is skipped for this turn (the local "
        "model answers) and retried later with back-off.",
        unit="s",
        min=0.1,
        max=30.0,
    )

    def __post_init__(self) -> None:
        if self.server_url:
            check_server_url(self.server_url)
        key_file = Path(self.server_api_key_file).expanduser()
        if self.server_api_key_file and not key_file.is_file():
            raise ValueError(f"server_api_key_file = {self.server_api_key_file!r}: no such file")
        if self.server_api_key_file and not os.access(key_file, os.R_OK):
            raise ValueError(f"server_api_key_file = {self.server_api_key_file!r} is not readable by this user")


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed: what logs, errors and status may show."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def check_server_url(url: str) -> None:
    """Raise ValueError naming ``server_url`` unless ``url`` is an http(s) base URL ending in /v1."""
    try:
        shown = without_userinfo(url)
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("server_url is not a URL (a bad port or brackets); expected http://host:port/v1") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"server_url = {shown!r} is not allowed: the scheme must be http or https")
    if not parts.hostname:
        raise ValueError(f"server_url = {shown!r} is not allowed: it names no host")
    if "@" in parts.netloc:  # credentials in a setting would show in `config show`; keys live in files
        raise ValueError(f"server_url = {shown!r} must not carry credentials: put the key in server_api_key_file")
    if parts.query or parts.fragment or not parts.path.rstrip("/").endswith("/v1"):
        raise ValueError(f"server_url = {shown!r} is not allowed: expected a base URL ending in /v1")


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
    threads: int = setting(
        2,
        "onnxruntime threads for the voice. The LLM pauses while the first sentence is synthesized, so both "
        "cores can speak it: 'The capital of France is Paris.' takes 0.12 s with 2 against 0.19 s with 1 here.",
        min=1,
        max=16,
    )
