"""Shared fixtures: the real model registry, real recordings and Piper-made speech."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from appliance.audio import SAMPLE_RATE
from appliance.models.registry import ModelRegistry

# One state dir per test session (joined Whisper model etc.), reused across
# runs through APPLIANCE_TEST_STATE so the 145 MB join happens once.
_STATE = Path(os.environ.get("APPLIANCE_TEST_STATE", Path(__file__).resolve().parent.parent / "var" / "test-state"))


@pytest.fixture(scope="session", autouse=True)
def _private_default_state(tmp_path_factory: pytest.TempPathFactory):
    """In-process appliances (converse, bench helpers) keep their memory.db in a throw-away state dir."""
    old = os.environ.get("STATE_DIRECTORY")
    os.environ["STATE_DIRECTORY"] = str(tmp_path_factory.mktemp("state"))
    yield
    if old is None:
        os.environ.pop("STATE_DIRECTORY", None)
    else:
        os.environ["STATE_DIRECTORY"] = old


@pytest.fixture(scope="session", autouse=True)
def _no_default_metrics_port():
    """Daemons started by tests serve no metrics unless a test asks: two runs must not fight over port 9464."""
    os.environ.setdefault("APPLIANCE_METRICS_LISTEN", "")


@pytest.fixture(scope="session")
def embedder(registry: ModelRegistry):
    """The real all-MiniLM-L6-v2 sentence embedder (numpy, no PyTorch)."""
    from appliance.engines.embedding import load_embedder

    return load_embedder("all-minilm-l6-v2", registry.resolve)


@pytest.fixture(scope="session")
def state_dir() -> Path:
    _STATE.mkdir(parents=True, exist_ok=True)
    return _STATE


@pytest.fixture(scope="session")
def registry(state_dir: Path) -> ModelRegistry:
    return ModelRegistry(state_dir, show_progress=False)


@pytest.fixture(scope="session")
def recording(registry: ModelRegistry):
    """Real human speech from moonshine-voice's assets, as 16 kHz int16."""
    from appliance.audio.wav import read_wav

    def load(name: str) -> np.ndarray:
        return read_wav(registry.resolve(f"speech-{name}"), SAMPLE_RATE)

    return load


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


@pytest.fixture(scope="session")
def voice(registry: ModelRegistry):
    """The default Piper voice (real model), for making test speech; without sampling noise, so the
    same text gives the same audio in every run and the tests are repeatable."""
    from appliance.engines.tts import PiperTts
    from appliance.settings import TtsSettings

    return PiperTts(registry.resolve("en_US-joe-medium"), TtsSettings(variation=0.0))


@pytest.fixture(scope="session")
def speak(voice):
    """Text → 16 kHz int16 speech from the real Piper voice."""
    from appliance.audio.buffer import resample

    cache: dict[str, np.ndarray] = {}

    def make(text: str) -> np.ndarray:
        if text not in cache:
            cache[text] = resample(voice.synthesize_all(text), voice.sample_rate, SAMPLE_RATE)
        return cache[text]

    return make


@pytest.fixture(scope="session")
def wake_detector_factory(registry: ModelRegistry):
    from appliance.engines.wake import load_detector
    from appliance.settings import WakeSettings

    def make(**overrides) -> object:
        return load_detector(WakeSettings(**overrides), registry.resolve)

    return make


@pytest.fixture(scope="session")
def engines(registry: ModelRegistry):
    """Every default engine, loaded once for the integration tests."""
    from appliance.runtime.app import load_engines
    from appliance.settings import Settings

    return load_engines(Settings(), registry)


def conversation(
    speak, request: np.ndarray, *, wake: str = "Hey Jarvis.", gap_s: float = 0.4
) -> tuple[np.ndarray, float, float]:
    """Silence, the Piper wake phrase, a pause, the request, silence; with the wake phrase's bounds."""
    lead = silence(1.0)
    wake_audio = speak(wake)
    audio = np.concatenate([lead, wake_audio, silence(gap_s), request, silence(1.5)])
    start = len(lead) / SAMPLE_RATE
    return audio, start, start + len(wake_audio) / SAMPLE_RATE


@pytest.fixture
def mosquitto(tmp_path: Path):
    """A private Mosquitto on a free port (generated config), stopped after the test."""
    from appliance.integrations.mqtt.broker import Mosquitto

    broker = Mosquitto(tmp_path / "broker").start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def home_assistant(tmp_path_factory: pytest.TempPathFactory):
    """A real Home Assistant core with a small home, started once per session (tests/ha_support.py)."""
    from .ha_support import HomeAssistant, HomeAssistantError

    try:
        ha = HomeAssistant.start(tmp_path_factory.mktemp("home-assistant"))
    except HomeAssistantError as err:
        pytest.fail(str(err), pytrace=False)
    yield ha
    ha.stop()
