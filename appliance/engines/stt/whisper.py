"""Whisper on CTranslate2, encoding only as much audio as was spoken.

faster-whisper pads every input to Whisper's 30 s window, which costs ~1.2 s per
utterance on two cores whatever its length.  CTranslate2's model accepts shorter
mel windows and the encoder cost follows the window, so a command is encoded in
a window of its own length plus a few seconds of silence.  Short windows
sometimes make Whisper repeat itself: a request heard over and over is cut
back to once (:func:`said_once`); other output that loops is thrown away and
the utterance is decoded again in the full window.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
import zlib
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import ctranslate2
import numpy as np
import tokenizers
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.tokenizer import Tokenizer

from appliance.audio import SAMPLE_RATE
from appliance.core.errors import ConfigError, ModelError, SttError
from appliance.engines.stt import PartialCallback, SttResult
from appliance.settings import SttSettings

_LOGGER = logging.getLogger(__name__)

HOP = 160  # samples per mel frame (10 ms)
FULL_FRAMES = 3000  # Whisper's native 30 s window
FULL_SAMPLES = FULL_FRAMES * HOP
TRAILING_FRAMES = 500
"""Silence after the audio in a short window: with 3-4 s Whisper often hears a 1-2 s command twice
("No thanks. No thanks.", taken back to once by :func:`said_once`) and mishears more (3 s: "What is
the capital of friends?"); with 5 s its WER matched the full window's."""
WINDOW_STEP = 100  # short windows are rounded up to whole seconds
TOKENS_PER_SECOND = 6
"""Bound on tokens per second of speech (fast English is 4-5): a runaway loop stops early."""
TOKEN_SLACK = 10
MAX_NEW_TOKENS = 224  # CTranslate2 generates at most max_length / 2 (= 448 / 2) tokens
NO_REPEAT_NGRAM = 0
"""Off: it changed no WER and turns loops into near-repeats that are harder to detect."""
NO_SPEECH_PROB = 0.6  # Whisper's rule: likely no speech *and* low confidence = silence
SILENT_LOGPROB = -1.0
COMPRESSION_LIMIT = 2.4  # zlib ratio above which text is a loop (OpenAI's threshold)
SHORT_TEXT_WORDS = 8  # up to this many words, a two-word phrase said twice is a loop
CUT_SEARCH = 5 * SAMPLE_RATE  # long audio is cut at the quietest point of each 30 s span's last 5 s
CUT_STEP = SAMPLE_RATE // 10

_WORD = re.compile(r"[\w']+")
_SENTENCE_END = re.compile(r"[.!?]+")


@dataclass(frozen=True)
class _Pass:
    """One decode of one window."""

    text: str
    no_speech_prob: float
    avg_logprob: float
    hit_limit: bool

    @property
    def silent(self) -> bool:
        return self.no_speech_prob > NO_SPEECH_PROB and self.avg_logprob < SILENT_LOGPROB


def short_window_frames(samples: int, trailing: int = TRAILING_FRAMES) -> int:
    """Mel frames for a short window over ``samples`` of audio and ``trailing`` frames of silence (at most 3000)."""
    frames = math.ceil(samples / HOP) + trailing
    return min(FULL_FRAMES, math.ceil(frames / WINDOW_STEP) * WINDOW_STEP)


def max_tokens(samples: int) -> int:
    """How many tokens ``samples`` of speech can plausibly hold."""
    return TOKEN_SLACK + math.ceil(TOKENS_PER_SECOND * samples / SAMPLE_RATE)


def looks_repetitive(text: str) -> bool:
    """True when the text loops: a word or phrase said over, a sentence twice, or text that compresses too well."""
    words = _WORD.findall(text.lower())
    return _has_tandem_repeat(words) or _repeats_sentence(text) or compression_ratio(text) > COMPRESSION_LIMIT


def compression_ratio(text: str) -> float:
    """Bytes of text per byte of its zlib compression (loops compress well)."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def _has_tandem_repeat(words: list[str]) -> bool:
    # "bye bye" and "try again, fail again, fail better" are speech; "turn turn turn",
    # "volume up volume up" and a 3+ word phrase said twice over are Whisper looping.
    for size in range(1, len(words) // 2 + 1):
        for start in range(len(words) - 2 * size + 1):
            runs = _repeats_at(words, start, size)
            if runs >= 3 or (runs == 2 and (size >= 3 or (size == 2 and len(words) <= SHORT_TEXT_WORDS))):
                return True
    return False


def _repeats_at(words: list[str], start: int, size: int) -> int:
    """How many times ``words[start:start + size]`` occurs back to back from ``start``."""
    unit = words[start : start + size]
    runs = 1
    while words[start + runs * size : start + (runs + 1) * size] == unit:
        runs += 1
    return runs


def said_once(text: str) -> str | None:
    """The utterance a short-window loop repeats, or None when ``text`` is not one thing said over.

    With little silence after the speech Whisper goes on to hear the request again: "Fail again.
    Fail again. Fail again. Fail" or "and how many people live there. And how many people live
    there?". Such text is periodic in its words from the first one on (the last repeat may be cut
    short), and its first period, ending a sentence, is what was said: in every such loop measured
    on real and Piper speech it was the full window's transcript, word for word.  A period that does
    not end a sentence ("What What What ...", "star star star" for "stop") is a word Whisper is stuck
    on, not the request: that text goes to the full window.
    """
    spans = list(_WORD.finditer(text))
    words = [m.group().lower() for m in spans]
    for period in range(1, len(words) // 2 + 1):
        if all(w == words[i % period] for i, w in enumerate(words)):
            end = spans[period - 1].end()
            if (stop := _SENTENCE_END.match(text, end)) is not None:
                return text[: stop.end()].strip()
    return None


def _repeats_sentence(text: str) -> bool:
    sentences = [words for s in _SENTENCE_END.split(text) if (words := _WORD.findall(s.lower()))]
    return any(a == b for a, b in pairwise(sentences))


def chunk_bounds(audio: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) sample spans of at most 30 s, cut at the quietest 100 ms of each span's last 5 s."""
    bounds: list[tuple[int, int]] = []
    start = 0
    while len(audio) - start > FULL_SAMPLES:
        search = audio[start + FULL_SAMPLES - CUT_SEARCH : start + FULL_SAMPLES]
        energy = np.square(search[: len(search) // CUT_STEP * CUT_STEP].reshape(-1, CUT_STEP)).sum(axis=1)
        end = start + FULL_SAMPLES - CUT_SEARCH + int(np.argmin(energy)) * CUT_STEP + CUT_STEP // 2
        bounds.append((start, end))
        start = end
    if start < len(audio):
        bounds.append((start, len(audio)))
    return bounds


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when CTranslate2 sees a GPU, else ``cpu``."""
    if device != "auto":
        return device
    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def _compute_type(device: str, wanted: str) -> str:
    if device == "cpu" and "float16" in wanted:
        _LOGGER.info("compute_type %s needs a GPU; using int8 on the CPU", wanted)
        return "int8"
    return wanted


class WhisperStt:
    """Whisper speech-to-text: short-window encoding with a full-window fallback."""

    name = "whisper"
    supports_speculation = True

    def __init__(self, model_dir: Path, settings: SttSettings, *, trailing_frames: int = TRAILING_FRAMES) -> None:
        self.settings = settings
        self.trailing_frames = trailing_frames
        self.device = resolve_device(settings.device)
        self.compute_type = _compute_type(self.device, settings.compute_type)
        threads = settings.threads or os.cpu_count() or 1
        try:
            self._model = ctranslate2.models.Whisper(
                str(model_dir), device=self.device, compute_type=self.compute_type, intra_threads=threads
            )
            raw_tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except (RuntimeError, ValueError, OSError) as err:
            raise ModelError("model-load-failed", f"cannot load Whisper from {model_dir}: {err}") from err
        try:
            self._tokenizer = Tokenizer(raw_tokenizer, self._model.is_multilingual, "transcribe", settings.language)
        except ValueError as err:
            message = f"stt.language = {settings.language!r} is not a language this Whisper model knows"
            raise ConfigError("config-value", message) from err
        self._extractor = FeatureExtractor(feature_size=self._model.n_mels)
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        tok = self._tokenizer
        special = {tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm, tok.no_speech}
        self._suppress = sorted(set(tok.non_speech_tokens) | special)
        _LOGGER.info(
            "Whisper loaded from %s on %s (%s, %d threads)", model_dir, self.device, self.compute_type, threads
        )

    def session(self, on_partial: PartialCallback | None = None) -> WhisperSession:
        """A session that buffers audio and transcribes it on ``finish()`` (no partials)."""
        return WhisperSession(self)

    def warm_up(self) -> None:
        """Transcribe one second of faint noise so the first request does not pay for allocation."""
        noise = np.random.default_rng(0).normal(0, 30, SAMPLE_RATE).astype(np.int16)
        result = self.transcribe(noise)
        _LOGGER.debug("Whisper warm-up took %.2f s", result.seconds)

    def transcribe(self, samples: np.ndarray) -> SttResult:
        """Whole utterance in (16 kHz mono int16), final text out."""
        started = time.perf_counter()
        audio = _as_float(samples)
        texts: list[str] = []
        windows: set[str] = set()
        for start, end in chunk_bounds(audio):
            text, window = self._transcribe_chunk(audio[start:end])
            texts.append(text)
            windows.add(window)
        return SttResult(
            text=" ".join(t for t in texts if t),
            language=self.settings.language,
            audio_s=len(audio) / SAMPLE_RATE,
            seconds=time.perf_counter() - started,
            window="full" if "full" in windows else ("short" if windows else ""),
        )

    def _transcribe_chunk(self, audio: np.ndarray) -> tuple[str, str]:
        """At most 30 s of audio: short window first, full window when that output looks wrong."""
        frames = short_window_frames(len(audio), self.trailing_frames) if self.settings.short_window else FULL_FRAMES
        first = self._decode(audio, frames)
        if frames == FULL_FRAMES:
            return _final_text(first), "full"
        if not _needs_full_window(first):
            return _final_text(first), "short"
        if (once := said_once(first.text)) is not None:
            return once, "short"
        _LOGGER.debug("Short window gave %r; decoding again in the full window", first.text)
        return _final_text(self._decode(audio, FULL_FRAMES)), "full"

    def _decode(self, audio: np.ndarray, frames: int) -> _Pass:
        limit = min(MAX_NEW_TOKENS, max_tokens(len(audio)))
        try:
            result = self._model.generate(
                self._mel(audio, frames),
                [self._prompt],
                beam_size=self.settings.beam_size,
                max_length=2 * limit,
                suppress_blank=True,
                suppress_tokens=self._suppress,
                no_repeat_ngram_size=NO_REPEAT_NGRAM,
                return_scores=True,
                return_no_speech_prob=True,
            )[0]
        except (RuntimeError, ValueError) as err:
            raise SttError("stt-failed", f"Whisper failed on {len(audio) / SAMPLE_RATE:.1f} s of audio: {err}") from err
        tokens = result.sequences_ids[0]
        return _Pass(
            text=self._tokenizer.decode(tokens).strip(),
            no_speech_prob=result.no_speech_prob,
            avg_logprob=result.scores[0],
            hit_limit=len(tokens) >= limit,
        )

    def _mel(self, audio: np.ndarray, frames: int) -> ctranslate2.StorageView:
        # Pad the waveform with silence, as Whisper was trained, rather than the
        # mel with zeros: on short windows that halved the loops (WER 4 % vs 10 %).
        padded = np.zeros(frames * HOP, dtype=np.float32)
        padded[: min(len(audio), len(padded))] = audio[: len(padded)]
        mel = self._extractor(padded, padding=0)[:, :frames]
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[np.newaxis], dtype=np.float32))


def _needs_full_window(decoded: _Pass) -> bool:
    if decoded.silent:
        return False
    if decoded.hit_limit or not decoded.text:
        return True
    return looks_repetitive(decoded.text)


def _final_text(decoded: _Pass) -> str:
    return "" if decoded.silent else decoded.text


def _as_float(samples: np.ndarray) -> np.ndarray:
    """int16 (or float in [-1, 1]) samples as a flat float32 array in [-1, 1]."""
    array = np.asarray(samples).reshape(-1)
    if array.dtype == np.int16:
        return array.astype(np.float32) / 32768.0
    return array.astype(np.float32, copy=False)


class WhisperSession:
    """Buffers an utterance's chunks; Whisper decodes it all at once on ``finish()``."""

    def __init__(self, engine: WhisperStt) -> None:
        self._engine = engine
        self._chunks: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> None:
        """Keep a copy: capture code reuses its frame buffers."""
        self._chunks.append(np.array(samples, dtype=np.int16, copy=True).reshape(-1))

    def finish(self) -> SttResult:
        """Transcribe everything fed so far."""
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        self._chunks = []
        return self._engine.transcribe(audio)
